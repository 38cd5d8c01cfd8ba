"""Presets: the README recipe is one flag, typed options win over a preset, --help lists them."""

import pytest
from typer.testing import CliRunner

from physai.core.errors import ConfigError, UnknownNameError
from physai.policies import POLICIES
from physai.policies.base import config_replace
from physai.train import PRESETS, train_config


def test_every_builtin_policy_has_a_preset_and_every_preset_builds_a_valid_config():
    assert {"mlp", "act", "flow", "vla"} <= set(PRESETS.names())
    for name in PRESETS.names():
        cfg = train_config(preset=name)
        cfg.validate()
        pcfg = config_replace(POLICIES.get(cfg.policy).config_cls(), cfg.policy_overrides)
        pcfg.validate()  # a preset never names a field the policy does not have


def test_policy_default_is_its_preset_and_typed_options_override_it():
    assert train_config("act").steps == PRESETS.get("act").train["steps"] == 12_000
    cfg = train_config("act", train={"steps": 7, "lr": 1e-3}, config={"dropout": 0.0})
    assert (cfg.steps, cfg.lr, cfg.policy_overrides) == (7, 1e-3, {"dropout": 0.0})
    img = train_config(preset="act-images", config={"image_text_queries": 3})
    assert img.policy == "act" and img.policy_overrides["image_text_queries"] == 3
    assert img.policy_overrides["token_keypoints"] == 2  # the rest of the recipe stays


def test_bad_preset_combinations_are_refused():
    with pytest.raises(ConfigError, match="trains 'act', not 'mlp'"):
        train_config("mlp", "act-images")
    with pytest.raises(UnknownNameError, match="act-images"):
        train_config(preset="act-imgs")
    with pytest.raises(ConfigError, match="name a policy or a preset"):
        train_config()
    with pytest.raises(ConfigError, match="unknown training options"):
        train_config("act", train={"stepz": 1})


def test_cli_help_lists_the_presets_and_the_generated_options():
    from physai.cli.main import app

    r = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0
    for name in PRESETS.names():
        assert f"{name}:" in r.output
    # options come from TrainConfig's fields and docstrings, not a copy in the CLI
    assert "--warmup-steps" in r.output and "Linear warmup steps before the cosine decay" in r.output
