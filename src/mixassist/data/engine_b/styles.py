"""Engine B's mix styles: seven named styles as parameter ranges, and the genres each suits.

A *draw* (:func:`draw_style`) picks one value in every range; the target mix and the reference
of a song share one draw. The styles are broader than the training priors' four
(``mixassist.data.priors``): a nearly mono, band-limited, saturated lo-fi; a very wide and roomy
orchestral; an intimate chamber sound; a hard-limited club master; a dark, narrow, dynamic
jazz; bright pop and dense rock.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["STYLES", "STYLE_GENRES", "draw_style"]

# One line per style. Each entry: (low, high) drawn uniformly, or a fixed value (None: off). Units: LUFS, dB, Hz, ratio, 0-1.
STYLES: dict[str, dict[str, Any]] = {
    "lofi_vintage": {"loudness_lufs": (-12.5, -10.5), "track_tilt_db": (-3.0, -1.0), "track_lpf_hz": None, "comp_ratio": (6.0, 10.0), "comp_depth_db": (10.0, 14.0), "track_drive_db": (10.0, 18.0), "pan_law": "linear6", "pan_spread": (0.05, 0.25), "stereo_width": (0.0, 0.2), "reverb_room": (0.3, 0.45), "reverb_damp": 0.8, "reverb_send_db": (-24.0, -18.0), "master_multiband": None, "master_drive_db": (8.0, 14.0), "side_gain_db": (-12.0, -6.0), "side_hpf_hz": None, "band_limit_hz": ((140.0, 220.0), (3200.0, 5000.0)), "master_tilt_db": (-1.0, 0.0)},
    "orchestral_roomy": {"loudness_lufs": (-24.0, -20.0), "track_tilt_db": (-1.0, 1.0), "track_lpf_hz": None, "comp_ratio": (1.0, 1.3), "comp_depth_db": (3.0, 5.0), "track_drive_db": 0.0, "pan_law": "sincos3", "pan_spread": (0.75, 1.0), "stereo_width": (1.2, 1.6), "reverb_room": (0.86, 0.95), "reverb_damp": 0.3, "reverb_send_db": (-10.0, -6.0), "master_multiband": None, "master_drive_db": 0.0, "side_gain_db": (1.0, 3.0), "side_hpf_hz": None, "band_limit_hz": None, "master_tilt_db": (-0.5, 0.5)},
    "chamber_intimate": {"loudness_lufs": (-21.0, -18.0), "track_tilt_db": (0.5, 2.0), "track_lpf_hz": None, "comp_ratio": (1.5, 2.0), "comp_depth_db": (4.0, 6.0), "track_drive_db": 0.0, "pan_law": "law4p5", "pan_spread": (0.3, 0.5), "stereo_width": (0.8, 1.0), "reverb_room": (0.5, 0.65), "reverb_damp": 0.5, "reverb_send_db": (-18.0, -13.0), "master_multiband": None, "master_drive_db": 0.0, "side_gain_db": (-1.0, 1.0), "side_hpf_hz": None, "band_limit_hz": None, "master_tilt_db": (0.0, 1.0)},
    "club_limited": {"loudness_lufs": (-7.5, -6.0), "track_tilt_db": (0.5, 2.0), "track_lpf_hz": None, "comp_ratio": (4.0, 6.0), "comp_depth_db": (8.0, 12.0), "track_drive_db": (2.0, 5.0), "pan_law": "sincos3", "pan_spread": (0.5, 0.8), "stereo_width": (1.0, 1.3), "reverb_room": (0.6, 0.75), "reverb_damp": 0.4, "reverb_send_db": (-24.0, -18.0), "master_multiband": (3.0, 5.0), "master_drive_db": (3.0, 6.0), "side_gain_db": (0.0, 2.0), "side_hpf_hz": (100.0, 160.0), "band_limit_hz": None, "master_tilt_db": (1.0, 2.5)},
    "jazz_dark_narrow": {"loudness_lufs": (-23.0, -19.0), "track_tilt_db": (-4.0, -2.0), "track_lpf_hz": (5000.0, 8000.0), "comp_ratio": (1.0, 1.4), "comp_depth_db": (2.0, 4.0), "track_drive_db": 0.0, "pan_law": "linear6", "pan_spread": (0.15, 0.35), "stereo_width": (0.5, 0.8), "reverb_room": (0.6, 0.72), "reverb_damp": 0.75, "reverb_send_db": (-16.0, -12.0), "master_multiband": None, "master_drive_db": 0.0, "side_gain_db": (-8.0, -4.0), "side_hpf_hz": None, "band_limit_hz": None, "master_tilt_db": (-2.0, -1.0)},
    "pop_bright": {"loudness_lufs": (-11.0, -9.0), "track_tilt_db": (1.5, 3.5), "track_lpf_hz": None, "comp_ratio": (3.0, 4.0), "comp_depth_db": (6.0, 9.0), "track_drive_db": (0.0, 2.0), "pan_law": "sincos3", "pan_spread": (0.5, 0.8), "stereo_width": (1.1, 1.4), "reverb_room": (0.65, 0.8), "reverb_damp": 0.35, "reverb_send_db": (-18.0, -13.0), "master_multiband": (2.0, 3.0), "master_drive_db": (1.0, 3.0), "side_gain_db": (1.0, 3.0), "side_hpf_hz": None, "band_limit_hz": None, "master_tilt_db": (1.0, 2.0)},
    "rock_dense": {"loudness_lufs": (-10.0, -8.5), "track_tilt_db": (0.0, 1.5), "track_lpf_hz": None, "comp_ratio": (4.0, 6.0), "comp_depth_db": (8.0, 11.0), "track_drive_db": (4.0, 8.0), "pan_law": "law4p5", "pan_spread": (0.6, 0.9), "stereo_width": (0.9, 1.1), "reverb_room": (0.5, 0.6), "reverb_damp": 0.5, "reverb_send_db": (-26.0, -20.0), "master_multiband": (2.5, 3.5), "master_drive_db": (2.0, 4.0), "side_gain_db": (-1.0, 1.0), "side_hpf_hz": None, "band_limit_hz": None, "master_tilt_db": (0.0, 1.0)},
}  # fmt: skip

#: The genres a style's songs are drawn from (scores where a style suits them).
STYLE_GENRES = {
    "lofi_vintage": ("folk", "jazz", "chorale", "pop"),
    "orchestral_roomy": ("chorale", "quartet"),
    "chamber_intimate": ("quartet", "chorale", "folk"),
    "club_limited": ("club", "pop"),
    "jazz_dark_narrow": ("jazz", "folk"),
    "pop_bright": ("pop", "folk", "club"),
    "rock_dense": ("rock", "pop"),
}


def _pick(value: Any, rng: np.random.Generator) -> Any:
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, tuple) for v in value):
        return [_pick(v, rng) for v in value]
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        return round(float(rng.uniform(*value)), 3)
    return value


def draw_style(name: str, rng: np.random.Generator) -> dict[str, Any]:
    """One value of every parameter of style ``name`` (JSON-safe), plus ``name``."""
    return {"name": name, **{key: _pick(value, rng) for key, value in STYLES[name].items()}}
