"""Engine B: an independent second data engine for out-of-distribution validation (issue 19).

Written apart from the training synthesiser (:mod:`mixassist.data.synth`), its priors, the
console, the mixers, the style and neural packages (an import-linter contract forbids those
imports): its own sources (additive/FM/plucked voices, synthesised drums, CC0 one-shots,
General MIDI programs the training data never uses, music21 excerpts), its own processors
(Bessel/elliptic/Linkwitz-Riley filters, tilt EQ, feedback RMS compressors, multiband dynamics,
tape saturation, mid/side width, other pan laws, Freeverb) and its own seven styles.
See docs/data.md, "Engine B".
"""

from mixassist.data.engine_b.dataset import ENGINE_VERSION, SPLIT_IDS, generate_split, plan_split, song_seed
from mixassist.data.engine_b.styles import STYLES

__all__ = ["ENGINE_VERSION", "SPLIT_IDS", "STYLES", "generate_split", "plan_split", "song_seed"]
