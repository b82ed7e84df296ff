"""Every meter reading of one signal at once (:func:`measure`), K-weighting it once.

Loudness (:mod:`~mixassist.measure.loudness`), peaks (:mod:`~mixassist.measure.peak`) and the
stereo image (:mod:`~mixassist.measure.stereo`) in one :class:`LoudnessReport`, whose ``reasons``
say why any figure is None.
"""

from __future__ import annotations

import dataclasses
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from mixassist.measure.dc import dc_offset, dc_offset_dbfs
from mixassist.measure.meter import METER_BLOCK, StreamMeter
from mixassist.measure.peak import true_peak_of
from mixassist.measure.reading import REASON_EMPTY, Reading
from mixassist.measure.validate import as_audio, check_sample_rate

__all__ = ["PARALLEL_TRUE_PEAK_S", "LoudnessReport", "empty_report", "measure", "report_from"]

logger = logging.getLogger(__name__)

#: Signals at least this long (s) have their true peak read on a second thread (see :func:`measure`).
PARALLEL_TRUE_PEAK_S = 10.0

_REPORT_DECIMALS = {
    "integrated_lufs": 2,
    "loudness_range_lu": 2,
    "true_peak_dbtp": 2,
    "sample_peak_dbfs": 2,
    "momentary_max_lufs": 2,
    "short_term_max_lufs": 2,
    "plr_db": 2,
    "correlation": 4,
    "side_mid_db": 2,
}


@dataclasses.dataclass(frozen=True)
class LoudnessReport:
    """Every meter reading of one signal, as returned by :func:`measure`.

    Attributes
    ----------
    integrated_lufs : float or None
        Integrated loudness, ITU-R BS.1770-4, LUFS.
    loudness_range_lu : float or None
        Loudness range, EBU Tech 3342, LU.
    true_peak_dbtp : float or None
        Maximum true peak, BS.1770-4 Annex 2 (4x), dBTP.
    sample_peak_dbfs : float or None
        Maximum absolute sample value, dBFS.
    momentary_max_lufs : float or None
        Maximum momentary (400 ms) loudness, EBU Tech 3341, LUFS.
    short_term_max_lufs : float or None
        Maximum short-term (3 s) loudness, EBU Tech 3341, LUFS.
    plr_db : float or None
        Peak-to-loudness ratio ``true_peak_dbtp - integrated_lufs``, dB.
    correlation : float or None
        Stereo correlation, -1...1; 1.0 for mono.
    side_mid_db : float or None
        Side-to-mid energy ratio, dB.
    dc_offset : tuple of float
        DC offset (mean sample value) of each channel, linear full scale; empty for empty audio.
    dc_offset_dbfs : tuple of float
        The same in dBFS (``20 log10 |offset|``, floored at -200 dBFS).
    reasons : dict of str to str
        For each reading that is None, a short human reason (e.g. ``"mono: no side signal"``).
    """

    integrated_lufs: float | None
    loudness_range_lu: float | None
    true_peak_dbtp: float | None
    sample_peak_dbfs: float | None
    momentary_max_lufs: float | None
    short_term_max_lufs: float | None
    plr_db: float | None
    correlation: float | None
    side_mid_db: float | None
    # Not compared: a streamed mean and a whole-array mean may differ in the last bits.
    dc_offset: tuple[float, ...] = dataclasses.field(default=(), compare=False)
    dc_offset_dbfs: tuple[float, ...] = dataclasses.field(default=(), compare=False)
    reasons: dict[str, str] = dataclasses.field(default_factory=dict, hash=False)

    def to_dict(self) -> dict[str, Any]:
        """The nine readings, rounded (2 decimals; correlation 4), the DC offsets per channel
        (``dc_offset`` to 7 decimals, ``dc_offset_dbfs`` to 1), plus ``"reasons"``.

        Returns
        -------
        dict
            JSON-serialisable with ``json.dumps(..., allow_nan=False)``: every reading is a
            finite float or None.
        """
        out: dict[str, Any] = {}
        for name, decimals in _REPORT_DECIMALS.items():
            value = getattr(self, name)
            # + 0.0 turns a rounded -0.0 into 0.0
            out[name] = None if value is None else round(float(value), decimals) + 0.0
        out["dc_offset"] = [round(float(v), 7) + 0.0 for v in self.dc_offset]
        out["dc_offset_dbfs"] = [round(float(v), 1) + 0.0 for v in self.dc_offset_dbfs]
        out["reasons"] = dict(self.reasons)
        return out


def measure(audio: np.ndarray, sample_rate: float) -> LoudnessReport:
    """Every meter reading of a signal, K-weighting it once.

    Parameters, raises
        As :func:`integrated_loudness`, except that zero-length audio gives a report of all
        None, not an error.

    Returns
    -------
    LoudnessReport
        Readings per :func:`integrated_loudness`, :func:`loudness_range`, :func:`true_peak`,
        :func:`sample_peak_dbfs`, :func:`momentary_loudness` (max),
        :func:`short_term_loudness` (max), :func:`correlation` and :func:`side_mid_db`, with
        ``plr_db = true_peak_dbtp - integrated_lufs``, and :func:`dc_offset` per channel;
        ``reasons`` explains every None.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(10 * 48000) / 48000
    >>> tone = 10 ** (-23 / 20) * np.sin(2 * np.pi * 1000 * t)
    >>> report = measure(tone, 48000)  # mono
    >>> round(report.integrated_lufs, 1), report.correlation, report.side_mid_db
    (-26.0, 1.0, None)
    >>> report.reasons["side_mid_db"]
    'mono: no side signal'
    """
    rate = check_sample_rate(sample_rate)
    x, peak = as_audio(audio)
    if x.shape[-1] == 0:
        return empty_report()
    # Fed in blocks: the same sums as the whole-array formulas, bit for bit, without float64
    # copies of the whole signal (a 10-minute mix would need 1 GB of them). A long signal's true
    # peak (its own pass, about half the time) is read on a second thread meanwhile: the same
    # figures, in half the wall time on two cores (the filters and FFTs release the GIL).
    meter = StreamMeter(rate)
    with ThreadPoolExecutor(max_workers=1) as pool:
        beside = pool.submit(true_peak_of, x, peak) if x.shape[-1] >= PARALLEL_TRUE_PEAK_S * rate else None
        for start in range(0, x.shape[-1], METER_BLOCK):
            meter.feed(x[:, start : start + METER_BLOCK])
        results = meter.readings()
        results["true_peak_dbtp"] = true_peak_of(x, peak) if beside is None else beside.result()
    return report_from(results, dc_offset(x))


def empty_report() -> LoudnessReport:
    """The report of zero-length audio: every reading None, for that reason."""
    return report_from({name: (None, REASON_EMPTY) for name in _REPORT_DECIMALS})


def report_from(results: dict[str, Reading], offset: np.ndarray | None = None) -> LoudnessReport:
    """The report of the readings and the per-channel DC ``offset``; ``plr_db``, when missing, is
    true peak minus integrated loudness."""
    results = dict(results)
    if "plr_db" not in results:
        tp, loudness = results["true_peak_dbtp"][0], results["integrated_lufs"][0]
        if tp is not None and loudness is not None:
            results["plr_db"] = (tp - loudness, None)
        else:
            missing = [name for name, value in (("true_peak_dbtp", tp), ("integrated_lufs", loudness)) if value is None]
            results["plr_db"] = (
                None,
                f"needs true_peak_dbtp and integrated_lufs; {' and '.join(missing)} "
                + ("is" if len(missing) == 1 else "are")
                + " None",
            )
    values = {name: results[name][0] for name in _REPORT_DECIMALS}
    reasons = {name: str(results[name][1]) for name in _REPORT_DECIMALS if results[name][0] is None}
    for name, reason in reasons.items():
        logger.debug("%s is None: %s", name, reason)
    offset = np.zeros(0) if offset is None else np.asarray(offset, dtype=np.float64)
    return LoudnessReport(
        **values,
        dc_offset=tuple(float(v) for v in offset),
        dc_offset_dbfs=tuple(float(v) for v in dc_offset_dbfs(offset)),
        reasons=reasons,
    )
