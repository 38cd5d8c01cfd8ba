"""World models: action-conditioned dynamics learned from recorded datasets; evaluation report; a planner
usable as a policy; judging policy checkpoints in imagination."""

from physai.worldmodel.checkpoint import LoadedWorldModel, load_world_model
from physai.worldmodel.model import WorldModel, WorldModelConfig
from physai.worldmodel.train import train_world_model

__all__ = ["LoadedWorldModel", "WorldModel", "WorldModelConfig", "load_world_model", "train_world_model"]
