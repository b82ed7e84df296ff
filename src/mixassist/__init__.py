"""mixassist: assistive, context-aware multitrack mixing.

The public API is small: load stems, measure, mix, render.

>>> import mixassist
>>> stems = mixassist.load_multitrack("examples/demo/stems")  # doctest: +SKIP
>>> mixassist.analyze(stems["bass"].audio, stems.sample_rate).integrated_lufs  # doctest: +SKIP
"""

from mixassist.api import MixResult, analyze, analyze_file, mix, render, render_recipe
from mixassist.audio import (
    LoudnessReport,
    Multitrack,
    Track,
    load_audio,
    load_multitrack,
    save_audio,
)
from mixassist.errors import (
    AudioFileError,
    InvalidAudioError,
    InvalidParameterError,
    MissingDependencyError,
    MixAssistError,
    OutputError,
)
from mixassist.version import __version__

__all__ = [
    "__version__",
    "AudioFileError",
    "InvalidAudioError",
    "InvalidParameterError",
    "LoudnessReport",
    "MissingDependencyError",
    "MixAssistError",
    "MixResult",
    "Multitrack",
    "OutputError",
    "Track",
    "analyze",
    "analyze_file",
    "load_audio",
    "load_multitrack",
    "mix",
    "render",
    "render_recipe",
    "save_audio",
]
