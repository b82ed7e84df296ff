"""Training the neural controller: ``mixassist train --config FILE`` (see docs/model-card.md)."""

from mixassist.train.config import TrainConfig, load_config

__all__ = ["TrainConfig", "load_config", "train"]


def train(config: TrainConfig, **kwargs):
    """Run or resume a training run (:func:`mixassist.train.loop.train`)."""
    from mixassist.train.loop import train as _train  # lazy: torch costs about a second at start-up

    return _train(config, **kwargs)
