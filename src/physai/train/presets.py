"""Named training presets: a policy, its config and the training budget that were measured together.

`physai train --policy act` uses the preset named like the policy; `physai train --preset NAME` picks
another one (`physai train --help` lists them). Options typed on the command line override a preset's
values; nothing else is changed behind the user's back. Every preset says where its figure comes from
(docs/BENCHMARKS.md) so that the number printed beside the command is what the command gives.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from physai.core.errors import ConfigError
from physai.core.registry import Registry
from physai.train.config import TrainConfig


@dataclass(frozen=True)
class Preset:
    """A named, measured training recipe."""

    name: str
    """What `--preset` takes."""
    policy: str
    """Registered policy name."""
    summary: str
    """One line for `physai train --help`: what it is for and what it reached."""
    train: Mapping[str, Any] = field(default_factory=dict)
    """TrainConfig fields (e.g. steps)."""
    config: Mapping[str, Any] = field(default_factory=dict)
    """Policy config fields (the `--set` values of the recipe)."""


PRESETS: Registry[Preset] = Registry("preset")


def register_preset(preset: Preset) -> Preset:
    """Add a preset to the registry (plugins may add their own)."""
    PRESETS.register(preset.name)(preset)
    return preset


register_preset(Preset("mlp", "mlp", "residual MLP on state (baseline)", {"steps": 5000}))
register_preset(Preset(
    "act", "act",
    "ACT on state; 12,000 steps (about 10 min on a free CPU core): >= 90% on tabletop/pick-place "
    "from 50 demos (docs/BENCHMARKS.md, 'Issue 19')",
    {"steps": 12_000},
))
register_preset(Preset("flow", "flow", "flow matching on state", {"steps": 5000}))
register_preset(Preset("vla", "vla", "multi-task, multi-robot VLA (several datasets)", {"steps": 5000}))
register_preset(Preset(
    "act-images", "act",
    "ACT from camera images + the instruction (data recorded with image labels); the README recipe, "
    "73% on pick-place over 600 held-out episodes at ~23,000 steps (45 min on one core)",
    {"steps": 23_000},
    {
        "use_instruction": True,
        "image_features": "query",
        "image_shift": 0.0,
        "image_queries": 0,
        "image_text_queries": 7,
        "query_appearance": False,
        "token_keypoints": 2,
        "exclude_state": ["wrist.force", "wrist.torque", "target.", "tray.", ".px."],
        "aux_keypoints": ["target", "tray", "red_cube", "green_cylinder", "blue_block", "yellow_puck",
                          "purple_pebble"],
    },
))


def preset_for(policy: str | None, preset: str | None) -> Preset:
    """The preset named `preset`, else the one named like `policy`; ConfigError when they disagree."""
    if preset is None and policy is None:
        raise ConfigError(f"name a policy or a preset (presets: {', '.join(PRESETS.names())})")
    if preset is None:
        assert policy is not None
        if policy in PRESETS.names():
            return PRESETS.get(policy)
        return Preset(policy, policy, "")  # a plugin policy without a preset: its config defaults
    p = PRESETS.get(preset)
    if policy is not None and policy != p.policy:
        raise ConfigError(f"preset {preset!r} trains {p.policy!r}, not {policy!r}; name only the preset")
    return p


def train_config(
    policy: str | None = None,
    preset: str | None = None,
    train: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
) -> TrainConfig:
    """The TrainConfig of `preset` (or the policy's own preset) with `train` fields and `config`
    (policy config) fields given by the user layered over it: the one path of `physai train` and of
    the learning benchmark."""
    p = preset_for(policy, preset)
    names = {f.name for f in dataclasses.fields(TrainConfig)} - {"policy", "policy_overrides"}
    bad = sorted(set(train or {}) - names)
    if bad:
        raise ConfigError(f"unknown training options {bad}; valid: {sorted(names)}")
    values = {**p.train, **(train or {})}
    return TrainConfig(policy=p.policy, policy_overrides={**p.config, **(config or {})}, **values)
