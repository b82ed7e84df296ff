"""Mixers: strategies that propose console settings (MixParams) under shared Constraints."""
