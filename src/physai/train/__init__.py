"""Training: the trainer (`train`, `TrainConfig`), checkpoints, closed-loop evaluation."""

from physai.train.evaluate import evaluate_policy
from physai.train.trainer import TrainConfig, TrainingDiverged, train

__all__ = ["TrainConfig", "TrainingDiverged", "evaluate_policy", "train"]
