"""End to end through the CLI: keys generate, export a physai.policies checkpoint, verify, tamper, run."""

from __future__ import annotations

import json
import os
import stat

from typer.testing import CliRunner

from physai.cli.main import app

runner = CliRunner()


def _json(args: list[str]) -> dict:
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_keys_export_verify_run(tmp_path):
    from physai.envs import make
    from physai.policies import IOSpec, make_policy

    env = make("tabletop/pick-place", render_mode=None)
    spec = IOSpec(
        embodiment="arm7",
        state_names=list(env.state_names),
        action_names=list(env.action_spec.names),
        control="ee_delta",
        env_task="tabletop/pick-place",
    )
    env.close()
    make_policy("mlp", [spec]).save(tmp_path / "run" / "checkpoint")

    keys = _json(["keys", "generate", "--out", str(tmp_path / "keys"), "--json"])
    assert stat.S_IMODE(os.stat(keys["private_key"]).st_mode) == 0o600
    pkg = tmp_path / "pkg"
    rep = _json(
        [
            "export",
            "--policy",
            str(tmp_path / "run"),
            "--out",
            str(pkg),
            "--sign-key",
            keys["private_key"],
            "--no-batched",
            "--json",
        ]
    )
    assert rep["signed"] and rep["parity"]["max_abs_diff"] <= 1e-4
    ver = _json(["verify", str(pkg), "--public-key", keys["public_key"], "--json"])
    assert ver["ok"] and ver["embodiment"] == "arm7" and ver["control"] == "ee_delta"
    assert "MODEL_CARD.md" in ver["files"]

    run = _json(
        [
            "run",
            "--package",
            str(pkg),
            "--robot",
            "sim:tabletop/pick-place",
            "--hz",
            "20",
            "--duration",
            "0.5",
            "--public-key",
            keys["public_key"],
            "--json",
        ]
    )
    assert run["cycles"] >= 10 and run["safety"]["state"] in ("running", "stopped")
    assert run["timing"]["period_ms"] == 50.0

    policy_json = (pkg / "policy.json").read_text()
    (pkg / "policy.json").write_text(policy_json.replace('"contract"', '"contract" ', 1))
    r = runner.invoke(app, ["verify", str(pkg), "--public-key", keys["public_key"]])
    assert r.exit_code == 2 and "policy.json" in r.output
    r = runner.invoke(app, ["run", "--package", str(pkg), "--robot", "sim:tabletop/pick-place"])
    assert r.exit_code == 2 and "no trusted public key" in r.output


def test_serve_token_file_holds_one_token_a_line(tmp_path):
    import pytest

    from physai.cli.deploy import read_tokens

    f = tmp_path / "tokens"
    f.write_text("robot-a\n\n  robot-b  \r\n")
    assert read_tokens(f) == ("robot-a", "robot-b")
    f.write_text("\n \n")
    with pytest.raises(ValueError, match="empty"):
        read_tokens(f)
