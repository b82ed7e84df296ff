"""Matchering 2 as an evaluation baseline (GPL: loaded by `mixassist eval --plugin`, never imported
by the package).

    pip install 'mixassist[eval]'     # or: pip install matchering==2.0.6
    mixassist eval DATASET --plugin benchmarks/plugins/matchering_baseline.py \\
        --methods sum,equal_loudness,equal_loudness_matched,matchering --out report/

Matchering masters one stereo file towards a reference (RMS, mid/side spectra, then its own
brickwall limiter); as in the issue, it is applied to the equal-loudness sum of the stems.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import matchering
import numpy as np
import soundfile as sf

from mixassist.evaluate.harness import METHODS, MethodOutput, register_method


@register_method("matchering")
def matchering_on_equal_loudness(stems, ctx):
    base = METHODS["equal_loudness"](stems, ctx).mix
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sf.write(tmp / "target.wav", base.T, stems.sample_rate, subtype="FLOAT")
        sf.write(tmp / "reference.wav", ctx.reference.T, ctx.sample_rate, subtype="FLOAT")
        matchering.log(lambda *args: None)
        matchering.process(
            target=str(tmp / "target.wav"),
            reference=str(tmp / "reference.wav"),
            results=[matchering.Result(str(tmp / "out.wav"), subtype="FLOAT", use_limiter=True, normalize=True)],
        )
        out, rate = sf.read(tmp / "out.wav", dtype="float32", always_2d=True)
    mix = out.T
    if mix.shape[1] < base.shape[1]:
        mix = np.pad(mix, ((0, 0), (0, base.shape[1] - mix.shape[1])))
    return MethodOutput(np.ascontiguousarray(mix[:, : base.shape[1]]))
