"""The mixing console: parameter schema, MixParams, differentiable processors, renderer."""

from mixassist.console.console import Console, ConsoleSettings, RenderResult
from mixassist.console.params import MixParams
from mixassist.console.schema import MASTER_PARAMS, REVERB_PARAMS, TRACK_PARAMS, Param

__all__ = [
    "MASTER_PARAMS",
    "REVERB_PARAMS",
    "TRACK_PARAMS",
    "Console",
    "ConsoleSettings",
    "MixParams",
    "Param",
    "RenderResult",
]
