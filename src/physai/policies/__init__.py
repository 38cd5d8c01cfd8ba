"""Policies: the protocol (`Policy`, `@register_policy`, `load_policy`) and mlp, act, flow, vla."""

from physai.core.contract import PolicyContract
from physai.core.execution import ChunkExecutor
from physai.policies import act, flow, mlp, vla  # noqa: F401  (register the built-in policies)
from physai.policies.base import (
    POLICIES,
    CheckpointError,
    Policy,
    PolicyConfig,
    config_replace,
    make_policy,
    register_policy,
)
from physai.policies.loading import load_policy, read_checkpoint_config, resolve_checkpoint
from physai.policies.spec import IOSpec, Normalizer

__all__ = [
    "POLICIES",
    "CheckpointError",
    "ChunkExecutor",
    "IOSpec",
    "Normalizer",
    "Policy",
    "PolicyConfig",
    "PolicyContract",
    "config_replace",
    "load_policy",
    "make_policy",
    "read_checkpoint_config",
    "register_policy",
    "resolve_checkpoint",
]
