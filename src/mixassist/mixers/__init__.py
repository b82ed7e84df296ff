"""Mixers: strategies that propose console settings (MixParams) under shared Constraints.

The contract (:class:`~mixassist.mixers.base.Mixer`, :class:`~mixassist.mixers.base.MixRequest`)
and the one registry of mixing methods (:data:`~mixassist.mixers.base.MIXERS`) are in
:mod:`mixassist.mixers.base`.
"""
