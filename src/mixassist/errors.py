"""The exception hierarchy.

Every error a user can cause derives from :class:`MixAssistError` and from the builtin
a caller would naturally catch, so ``except ValueError`` keeps working.  Messages name
the offending file or value and, where there is one, the fix.  The CLI prints a
``MixAssistError`` as one line and exits with code 2.
"""

from __future__ import annotations

import os

__all__ = [
    "MixAssistError",
    "AudioFileError",
    "InvalidAudioError",
    "InvalidParameterError",
    "OutputError",
    "MissingDependencyError",
    "RecipeError",
]


class MixAssistError(Exception):
    """Root of every error mixassist raises on purpose.

    Parameters
    ----------
    message : str
        What is wrong and, where there is one, how to fix it.
    path : str or os.PathLike, optional
        The file the error is about; it is prefixed to the message.
    """

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None) -> None:
        self.path = None if path is None else os.fspath(path)
        self.reason = message
        super().__init__(f"{self.path}: {message}" if self.path else message)


class AudioFileError(MixAssistError, OSError):
    """A file could not be read or decoded as audio (empty, corrupt, unsupported, absurd header)."""


class InvalidAudioError(MixAssistError, ValueError):
    """Audio was decoded but its content is unusable (NaN/Inf, integer-scaled floats, channel layout)."""


class InvalidParameterError(MixAssistError, ValueError):
    """An unknown parameter name or a value outside its allowed range."""


class OutputError(MixAssistError, OSError):
    """An output could not be written safely (exists, is an input, unsupported format)."""


class MissingDependencyError(MixAssistError, RuntimeError):
    """An optional external tool (e.g. ffmpeg) is needed but not installed."""


class RecipeError(MixAssistError, ValueError):
    """A recipe file is not valid JSON or does not follow the recipe format."""
