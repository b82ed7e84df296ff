"""numba plumbing shared by the DSP kernels: typed compile options and an explicit FMA.

The option dictionaries are typed (:class:`JitOptions`) so that ``njit(**options)`` type-checks.
"""

from __future__ import annotations

from typing import Literal, TypedDict, Unpack

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

__all__ = ["INLINE_OPTIONS", "KERNEL_OPTIONS", "JitOptions", "fma", "jit_options"]


class JitOptions(TypedDict, total=False):
    """Keyword arguments of :func:`numba.njit` that the DSP kernels use."""

    cache: bool
    nogil: bool
    error_model: Literal["python", "numpy"]
    fastmath: bool | set[str]
    inline: Literal["never", "always"]
    parallel: bool


def jit_options(base: JitOptions, **extra: Unpack[JitOptions]) -> JitOptions:
    """``base`` with ``extra`` added (or replaced): ``njit(**jit_options(OPTS, parallel=True))``."""
    return {**base, **extra}


# error_model="numpy": no ZeroDivisionError checks (they block vectorisation).  No fast-math:
# every result is then independent of vectorisation and block boundaries, so chunked ==
# whole bit for bit and the backward pass re-derives exactly the forward branch decisions.
KERNEL_OPTIONS: JitOptions = {"cache": True, "nogil": True, "error_model": "numpy"}
"""Options of the dynamics kernels (compressor, true-peak detector, limiter)."""
INLINE_OPTIONS: JitOptions = {"inline": "always", "nogil": True, "error_model": "numpy"}
"""Options of the small helpers the dynamics kernels inline."""


@intrinsic
def fma(typingctx, a, b, c):
    """``a * b + c`` with one rounding (llvm.fma): explicit, so vector and scalar code agree."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        d = ir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.fma", [d], ir.FunctionType(d, [d, d, d]))
        return builder.call(fn, args)

    return sig, codegen
