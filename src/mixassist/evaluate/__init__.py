"""Evaluation: interpretable metrics (:mod:`.metrics`) and the harness (:mod:`.harness`) that runs
registered methods and baselines over a dataset with ground truth."""
