"""Bit-level float <-> integer casts for numba kernels (exact; the base of vectorisable log2/exp2).

Shared by the perception model's kernel and the console's dynamics kernels. Kept out of
``mixassist.measure``'s package names: importing numba there would slow ``import mixassist``.
"""

from __future__ import annotations

from typing import Any

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

__all__ = ["bits_f32", "bits_f64", "f32_bits", "f64_bits"]


def _bitcast(name: str, doc: str, result: Any, argument: Any, llvm_type: ir.Type) -> Any:
    """A numba intrinsic ``name`` that reinterprets an ``argument`` value's bits as ``result``."""

    def cast(typingctx: Any, x: Any) -> tuple[Any, Any]:
        sig = result(argument)

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            return builder.bitcast(args[0], llvm_type)

        return sig, codegen

    cast.__name__ = cast.__qualname__ = name
    cast.__doc__ = doc
    return intrinsic(cast)


f64_bits = _bitcast(
    "f64_bits", "The bits of a float64 as an int64 (inside numba code).", types.int64, types.float64, ir.IntType(64)
)
bits_f64 = _bitcast(
    "bits_f64", "The float64 whose bits are an int64 (inside numba code).", types.float64, types.int64, ir.DoubleType()
)
f32_bits = _bitcast(
    "f32_bits", "The bits of a float32 as an int32 (inside numba code).", types.int32, types.float32, ir.IntType(32)
)
bits_f32 = _bitcast(
    "bits_f32", "The float32 whose bits are an int32 (inside numba code).", types.float32, types.int32, ir.FloatType()
)
