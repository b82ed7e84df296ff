"""The reference mix as the neural controller reads it: the weighted blend of the references'
summary vectors (:func:`mixassist.neural.features.summary_vector` of their window statistics)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mixassist.neural.features import summary_vector, window_stats

__all__ = ["reference_summary"]


def reference_summary(references: Sequence[tuple[np.ndarray, float, float]]) -> np.ndarray | None:
    """Weighted mean of the summaries of ``(audio, sample_rate, weight)`` references (None without any)."""
    if not references:
        return None
    summaries = [summary_vector(window_stats(np.asarray(audio), sample_rate)) for audio, sample_rate, _ in references]
    weights = np.array([weight for _, _, weight in references])
    return np.einsum("r,rd->d", weights / weights.sum(), np.stack(summaries))
