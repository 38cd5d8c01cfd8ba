"""Real-time chunking end to end: the flow sampler's guidance, the exported package's optional inputs,
the runtime under injected delay, the server with a client sending its committed actions, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from physai.core.contract import RTC_INPUTS
from physai.core.errors import ConfigError
from physai.core.execution import InjectedDelay, rtc_inputs
from physai.deploy import signing
from physai.deploy.client import PolicyClient, ServerError
from physai.deploy.drivers.sim import sim_driver_for
from physai.deploy.package import ExportConfig, export_package, load_package
from physai.deploy.reference import contract as reference_contract
from physai.deploy.reference import make_controller
from physai.deploy.runtime import Runtime, RuntimeConfig
from physai.deploy.server import PolicyServer, ServerConfig, ServerThread

TASK = "tabletop/pick-place"
H = 8


def flow_policy():
    """An untrained small flow policy for the pick-place arm, with actions scaled small (std 0.01) so
    the supervisor lets it move."""
    from physai.envs import make
    from physai.policies import IOSpec, make_policy

    env = make(TASK, render_mode=None)
    names = list(env.action_spec.names)
    spec = IOSpec(
        "arm7", list(env.state_names), names, control="ee_delta", env_task=TASK, fps=1 / env.control_dt
    )
    env.close()
    stats = [{"action": {"mean": np.zeros(len(names)), "std": np.full(len(names), 0.01)}}]
    torch.manual_seed(0)
    return make_policy(
        "flow", [spec], stats, chunk_size=H, n_action_steps=4, temporal_ensemble=None, hidden_dim=32,
        d_model=16, n_layers=1, num_steps=4,
    ).eval()


@pytest.fixture(scope="module")
def flow_package(tmp_path_factory, keys):
    pol = flow_policy()
    out = tmp_path_factory.mktemp("flow") / "pkg"
    cfg = ExportConfig(batched=False, parity_samples=4)
    export_package(pol.export_module(), pol.contract(), out, sign_key=keys[0], config=cfg)
    return load_package(out, signing.trusted_keys(keys[1]))


@pytest.fixture(scope="module")
def old_package(tmp_path_factory, keys):
    """A pick-place package exported without RTC support recorded (as before physai had it)."""
    out = tmp_path_factory.mktemp("old") / "pkg"
    c = reference_contract(chunk=4, horizon=2)
    export_package(make_controller(chunk=4), c, out, sign_key=keys[0], config=ExportConfig(batched=False))
    return out


def test_guidance_pulls_the_overlap_toward_the_committed_chunk():
    pol = flow_policy()
    module = pol.export_module()
    assert pol.contract().rtc == "inpaint"
    state = torch.zeros(1, len(pol.spec.state_names))
    free = module(state, torch.zeros(1, H, 7), torch.zeros(1, H)).detach()
    committed = free[0, :6] + 0.05  # a previous chunk that disagrees with what the policy would do
    r = rtc_inputs(committed.numpy(), 2, H)
    w = r["rtc_weights"]
    guided = module(state, torch.from_numpy(r["rtc_prefix"])[None], torch.from_numpy(w)[None]).detach()[0]
    assert torch.equal(guided[:2], committed[:2])  # the frozen prefix is the committed actions exactly
    before = (free[0, 2:6] - committed[2:6]).abs().mean(1)
    after = (guided[2:6] - committed[2:6]).abs().mean(1)
    assert torch.all(after < before)  # the overlap is pulled toward the previous chunk
    assert after[0] < after[-1]  # the more so the larger the weight
    assert not torch.allclose(guided[6:], committed[5].expand(2, -1))  # past the overlap: free


def test_package_takes_the_committed_prefix_as_optional_inputs(flow_package):
    pkg = flow_package
    assert [i["name"] for i in pkg.inputs][-2:] == list(RTC_INPUTS)
    obs = {"state": np.zeros(len(pkg.contract.state_names), np.float32)}
    plain = pkg.infer(obs)  # without the optional inputs: an ordinary chunk
    committed = np.random.default_rng(0).normal(0, 0.01, (5, 7)).astype(np.float32)
    out = pkg.infer({**obs, **rtc_inputs(committed, 3, H)})
    np.testing.assert_array_equal(out[:3], committed[:3])
    assert not np.array_equal(out[3:5], plain[3:5])


class Spy:
    """Wraps a package and records each inference request's rtc inputs and the chunk returned, with the
    number of cycles the observer had seen (the request's cycle when realtime is off)."""

    def __init__(self, pkg, seen) -> None:
        self._pkg, self.seen, self.calls = pkg, seen, []

    def __getattr__(self, k):
        return getattr(self._pkg, k)

    def infer(self, obs):
        out = self._pkg.infer(obs)
        self.calls.append((len(self.seen), obs.get("rtc_prefix"), obs.get("rtc_weights"), out))
        return out


class Proposals:
    def __init__(self) -> None:
        self.actions: list[np.ndarray] = []

    def start(self, info, pkg) -> None:
        pass

    def cycle(self, record) -> None:
        self.actions.append(np.asarray(record.action))

    def end(self, report) -> None:
        pass


def _run(pkg, execution: str, delay: InjectedDelay, cycles: int = 24):
    obs = Proposals()
    spy = Spy(pkg, obs.actions)
    drv = sim_driver_for(pkg.contract, TASK, realtime=False, seed=1)
    cfg = RuntimeConfig(
        realtime=False, max_cycles=cycles, stop_on_done=False, execution=execution, delay=delay
    )
    rep = Runtime(spy, drv, cfg, observers=[obs]).run()
    return rep, spy.calls, obs.actions


def test_runtime_rtc_sends_what_it_commits_under_injected_delay(flow_package):
    rep, calls, acts = _run(flow_package, "rtc", InjectedDelay(2))
    assert rep["execution"]["mode"] == "rtc" and rep["execution"]["rtc"] == "inpaint"
    assert rep["inference"]["late_cycles"] == 0 and rep["safety"]["state"] != "stopped"
    requests = calls[1:]  # the first chunk is inferred before motion, with nothing committed
    assert [c[0] for c in requests] == [4, 8, 12, 16, 20]  # every horizon (4) from the observation
    assert rep["inference"]["chunk_boundaries"] == [6, 10, 14, 18, 22]  # each arrives 2 periods later
    for r, prefix, weights, chunk in requests:
        assert weights[:2].tolist() == [1.0, 1.0] and weights[2] < 1  # the estimated delay: 2 periods
        np.testing.assert_array_equal(chunk[:2], prefix[:2])  # frozen prefix == committed
        for i in range(2):  # what was committed really was executed while the chunk was inferred
            if r + i < len(acts):
                np.testing.assert_array_equal(acts[r + i], prefix[i])
    rep2, _, acts2 = _run(flow_package, "rtc", InjectedDelay(2))
    np.testing.assert_array_equal(np.stack(acts), np.stack(acts2))  # deterministic


def test_delay_costs_sync_idle_frames_and_jitter_is_reproducible(flow_package):
    sync, _, _ = _run(flow_package, "sync", InjectedDelay(4))
    queue, _, _ = _run(flow_package, "queue", InjectedDelay(2))
    assert sync["inference"]["late_cycles"] >= 8  # the robot waits 4 periods for every new chunk
    assert sync["cycles"] == 24 and sync["safety"]["stop_reason"] is None  # by design: not a late inference
    assert queue["inference"]["late_cycles"] == 0  # the queue runs on the rest of the chunk
    a = _run(flow_package, "rtc", InjectedDelay(2, jitter=2, seed=5))
    b = _run(flow_package, "rtc", InjectedDelay(2, jitter=2, seed=5))
    assert a[0]["inference"]["chunk_boundaries"] == b[0]["inference"]["chunk_boundaries"]
    np.testing.assert_array_equal(np.stack(a[2]), np.stack(b[2]))


def test_rtc_on_a_package_without_the_capability_is_a_clear_error(old_package, keys):
    pkg = load_package(old_package, signing.trusted_keys(keys[1]))
    drv = sim_driver_for(pkg.contract, TASK, realtime=False)
    with pytest.raises(ConfigError, match="re-export"):
        Runtime(pkg, drv, RuntimeConfig(realtime=False, execution="rtc"))
    with pytest.raises(ConfigError, match="re-export"):
        PolicyServer(pkg, ServerConfig(insecure_local=True, port=0, execution="rtc"))


def test_server_rtc_client_sends_its_committed_actions(flow_package):
    pkg = flow_package
    srv = ServerThread(PolicyServer(pkg, ServerConfig(insecure_local=True, port=0, execution="rtc"))).start()
    try:
        cl = PolicyClient(f"ws://127.0.0.1:{srv.port}")
        meta = cl.metadata
        assert meta["execution"]["mode"] == "rtc" and "committed_actions" in meta["optional_keys"]
        assert set(meta["observation_spec"]) == {"state"}  # the rtc inputs are not required
        obs = {"state": np.zeros(len(pkg.contract.state_names), np.float32)}
        plain = cl.infer(obs)["actions"]  # an openpi client that sends nothing extra
        np.testing.assert_array_equal(plain, pkg.infer(obs))
        committed = np.random.default_rng(1).normal(0, 0.01, (4, 7)).astype(np.float32)
        out = cl.infer(obs, committed=committed, delay=3)["actions"]
        np.testing.assert_array_equal(out[:3], committed[:3])
        np.testing.assert_array_equal(out, pkg.infer({**obs, **rtc_inputs(committed, 3, H)}))
        with pytest.raises(ServerError, match="committed_actions"):
            cl.infer(obs, committed=np.zeros((4, 3), np.float32), delay=1)
        cl.close()
    finally:
        srv.stop()
    queue = ServerConfig(insecure_local=True, port=0, execution="queue")
    srv = ServerThread(PolicyServer(pkg, queue)).start()
    try:
        cl = PolicyClient(f"ws://127.0.0.1:{srv.port}")
        with pytest.raises(ServerError, match="unknown"):  # committed actions outside rtc: refused
            cl.infer({"state": np.zeros(len(pkg.contract.state_names), np.float32)},
                     committed=np.zeros((4, 7), np.float32), delay=1)
        cl.close()
    finally:
        srv.stop()


def test_cli_run_execution_override(old_package, keys):
    from physai.cli.main import app

    runner = CliRunner()
    base = ["run", "--package", str(old_package), "--robot", f"sim:{TASK}", "--public-key", str(keys[1])]
    r = runner.invoke(app, [*base, "--execution", "rtc"])
    assert r.exit_code == 2 and "re-export" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, [*base, "--execution", "sync", "--duration", "0.3", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["execution"]["mode"] == "sync"
