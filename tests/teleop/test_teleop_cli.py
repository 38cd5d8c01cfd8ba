"""End to end through the CLI: `physai run --intervene expert --record` on a sim robot, the recording
viewed with `physai dataset view`; `physai teleop` driven from the browser protocol."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from physai.cli.main import app

runner = CliRunner()


def _json(args: list[str]) -> dict:
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


@pytest.mark.slow  # exports an ONNX package (~30-60 s on the shared CPU)
def test_run_intervene_expert_records_policy_and_human_steps(tmp_path) -> None:
    from physai.data.dataset import Dataset
    from physai.envs import make
    from physai.policies import IOSpec, make_policy

    env = make("tabletop/stack", render_mode=None)
    spec = IOSpec(
        embodiment="arm7",
        state_names=list(env.state_names),
        action_names=list(env.action_spec.names),
        control="ee_delta",
        env_task="tabletop/stack",
    )
    env.close()
    make_policy("mlp", [spec]).save(tmp_path / "run" / "checkpoint")  # untrained: it strays at once
    pkg = tmp_path / "pkg"
    _json(["export", "--policy", str(tmp_path / "run"), "--out", str(pkg), "--no-batched", "--json"])
    rec = tmp_path / "interventions"
    rep = _json(
        [
            "run",
            "--package",
            str(pkg),
            "--robot",
            "sim:tabletop/stack",
            "--duration",
            "2",
            "--intervene",
            "expert",
            "--record-dataset",
            str(rec),
            "--allow-unsigned",
            "--json",
        ]
    )
    steps = rep["control"]["steps"]
    assert steps["human"] > 0 and steps["policy"] > 0 and steps["hold"] == 0
    assert any(e["event"] == "granted" for e in rep["control"]["events"])
    assert rep["recorded"]["episode_index"] == 0
    ds = Dataset(rec)
    src = np.asarray(ds.arrays()["control_source"]).reshape(-1)
    assert len(src) == rep["cycles"] and int((src == 1).sum()) == steps["human"]
    assert ds.features["control_source"]["dtype"] == "int64"
    view = _json(["dataset", "view", str(rec), "--out", str(tmp_path / "view"), "--json"])
    assert view["control_steps"] == f"policy={steps['policy']} human={steps['human']} hold=0"


def test_intervene_unknown_source_is_a_clear_error(tmp_path) -> None:
    r = runner.invoke(
        app,
        [
            "run",
            "--package",
            str(tmp_path),
            "--robot",
            "sim:tabletop/stack",
            "--intervene",
            "joystik",
            "--allow-unsigned",
        ],
    )
    assert r.exit_code != 0 and "Traceback" not in r.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_teleop_cli_from_the_browser_protocol(tmp_path) -> None:
    from websockets.asyncio.client import connect

    from physai.data.dataset import Dataset

    port = _free_port()
    seen: dict = {}

    async def drive() -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                ws = await connect(f"ws://127.0.0.1:{port}/ws")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)
        async with ws:
            seen["hello"] = json.loads(await ws.recv())
            await ws.send("{not json")
            for seq in range(1, 200):
                await ws.send(json.dumps({"type": "cmd", "seq": seq, "twist": [0, 0, 1, 0, 0, 0]}))
                msg = await ws.recv()
                while not isinstance(msg, str) or json.loads(msg)["type"] != "status":
                    if isinstance(msg, str) and json.loads(msg)["type"] == "error":
                        seen["error"] = json.loads(msg)["reason"]
                    msg = await ws.recv()
                if json.loads(msg)["step"] >= 10:
                    break
            await ws.send(json.dumps({"type": "button", "name": "save"}))
            await asyncio.sleep(0.3)

    t = threading.Thread(target=lambda: asyncio.run(drive()), daemon=True)
    t.start()
    out = tmp_path / "teleop"
    doc = _json(
        [
            "teleop",
            "--task",
            "tabletop/stack",
            "--out",
            str(out),
            "--source",
            "browser",
            "--port",
            str(port),
            "--cameras",
            "none",
            "--max-steps",
            "200",
            "--json",
        ]
    )
    t.join(timeout=10)
    assert seen["hello"]["role"] == "operator" and "not JSON" in seen["error"]
    ep = doc["episodes"][0]
    assert ep["ended_by"] == "save" and ep["kept"] and ep["steps"]["human"] >= 10
    ds = Dataset(out)
    z = ds.arrays()["observation.state"][:, ds.features["observation.state"]["names"].index("ee.pos.z")]
    assert z[-1] > z[0] + 0.02  # the arm went up as commanded
    assert set(np.asarray(ds.arrays()["control_source"]).reshape(-1).tolist()) == {1}


def test_teleop_cli_with_the_expert_driving(tmp_path) -> None:
    from physai.data.dataset import Dataset

    doc = _json(
        [
            "teleop",
            "--task",
            "tabletop/stack",
            "--out",
            str(tmp_path / "d"),
            "--source",
            "expert",
            "--cameras",
            "none",
            "--json",
        ]
    )
    ep = doc["episodes"][0]
    assert ep["success"] and ep["kept"] and ep["ended_by"] == "env" and ep["steps"]["policy"] == 0
    info = Dataset(tmp_path / "d").meta.info["physai"]
    assert info["control_sources"] == ["policy", "human", "hold"] and info["task"] == "tabletop/stack"
