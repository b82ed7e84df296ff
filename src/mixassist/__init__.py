"""mixassist: assistive, context-aware multitrack mixing.

The public API is small: load stems, measure, mix, render.

>>> import mixassist
>>> stems = mixassist.load_multitrack("examples/demo/stems")  # doctest: +SKIP
>>> mixassist.analyze(stems["bass"].audio, stems.sample_rate).integrated_lufs  # doctest: +SKIP

The names are imported when first used (PEP 562), so ``import mixassist.cli`` stays light and
the command line refuses a bad option before it loads the mixing code (numpy, scipy, torch).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mixassist.errors import (
    AudioFileError,
    InvalidAudioError,
    InvalidParameterError,
    MissingDependencyError,
    MixAssistError,
    OutputError,
)
from mixassist.version import __version__

if TYPE_CHECKING:
    from mixassist.api import MixResult, analyze, analyze_file, mix, render, render_recipe
    from mixassist.audio import LoudnessReport, Multitrack, Track, load_audio, load_multitrack, save_audio

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

#: Where each lazily imported public name lives.
_LAZY = {
    **dict.fromkeys(("MixResult", "analyze", "analyze_file", "mix", "render", "render_recipe"), "mixassist.api"),
    **dict.fromkeys(
        ("LoudnessReport", "Multitrack", "Track", "load_audio", "load_multitrack", "save_audio"), "mixassist.audio"
    ),
}


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (and keep it here)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mixassist' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
