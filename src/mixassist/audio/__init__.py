"""Audio in and out: decoding, resampling, multitrack sessions, atomic writing and metering."""

from mixassist.audio.io import load_audio, resample, save_audio
from mixassist.audio.multitrack import Multitrack, Track, load_multitrack
from mixassist.measure import LoudnessReport, measure

__all__ = [
    "LoudnessReport",
    "Multitrack",
    "Track",
    "load_audio",
    "load_multitrack",
    "measure",
    "resample",
    "save_audio",
]
