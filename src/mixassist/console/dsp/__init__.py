"""Functional, batched, differentiable DSP for the console.

Conventions shared by every processor here:

* audio tensors are shaped ``(tracks, channels, samples)`` (``channels`` 1 or 2), float32 or
  float64; parameters are tensors shaped ``(tracks,)`` in physical units;
* stateful processors are ``fn(x, ..., state=None) -> (y, state)``: ``state=None`` means
  silence before the first sample, and processing a signal in chunks while carrying the
  returned state equals processing it whole — this is how the console renders long mixes
  in bounded memory with the same code that renders short excerpts with gradients;
* heavy recursions run in numba kernels wrapped in ``torch.autograd.Function`` with analytic
  adjoints, so the no-grad render and the optimisation path are one implementation.
"""
