"""ChunkExecutor modes (sync, queue, ensemble, rtc), mode resolution and delay injection."""

from __future__ import annotations

import numpy as np
import pytest

from physai.core.contract import Execution, PolicyContract
from physai.core.errors import ConfigError
from physai.core.execution import (
    ChunkExecutor,
    DelayEstimator,
    InjectedDelay,
    SyncExecution,
    describe_execution,
    parse_execution,
    resolve_execution,
    rtc_inputs,
    rtc_weights,
)

H, A = 8, 2


def chunk_for(cycle: int) -> np.ndarray:
    """A recognisable chunk: row i of the chunk predicted at `cycle` is (cycle, i)."""
    return np.stack([np.full(H, cycle, float), np.arange(H, dtype=float)], axis=1)


def contract(rtc: str | None = "inpaint", execution: Execution | None = None) -> PolicyContract:
    return PolicyContract(
        embodiment="toy", control="joint_pos", control_hz=20.0, state_names=("s",), action_names=("a0", "a1"),
        chunk_size=H, execution=execution or Execution("queue", horizon=4), rtc=rtc,
    )


def drive(ex: ChunkExecutor, cycles: int, delay: int) -> list[np.ndarray | None]:
    """The runtime's schedule in miniature: the first chunk before motion, then a chunk requested at c
    is added at c + delay."""
    ex.add(0, chunk_for(0))
    out, pending = [], None
    for t in range(cycles):
        if pending is not None and t >= pending[0] + delay:
            ex.add(pending[0], chunk_for(pending[0]), t)
            pending = None
        if pending is None and ex.wants(t):
            pending = (t,)
            if delay == 0:
                ex.add(t, chunk_for(t), t)
                pending = None
        out.append(ex.action(t))
    return out


def test_every_mode_reproduces_the_queue_without_delay():
    calls = []

    def infer(obs):
        calls.append(obs)
        return chunk_for(obs["t"])

    ref = SyncExecution(infer, Execution("queue", horizon=4), H)
    seq = [ref.act({"t": t}) for t in range(12)]
    for mode in ("sync", "rtc"):
        ex = SyncExecution(infer, Execution(mode, horizon=4), H, rtc="inpaint")
        got = [ex.act({"t": t}) for t in range(12)]
        np.testing.assert_array_equal(np.stack(got), np.stack(seq))
    assert [a[0] for a in seq] == [0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8]
    # rtc requests carry the committed rest of the current chunk (delay 0: nothing frozen)
    np.testing.assert_array_equal(calls[-1]["rtc_prefix"][:4], chunk_for(4)[4:])
    assert calls[-1]["rtc_weights"][0] < 1


def test_sync_waits_and_restarts_at_the_first_action():
    acts = drive(ChunkExecutor(Execution("sync", horizon=4), H), 14, delay=2)
    idle = [t for t, a in enumerate(acts) if a is None]
    assert idle == [4, 5, 10, 11]  # each new chunk takes 2 periods: the robot waits
    assert acts[6].tolist() == [4.0, 0.0]  # chunk from cycle 4 starts at its first action at cycle 6


def test_queue_runs_on_and_skips_past_actions():
    ex = ChunkExecutor(Execution("queue", horizon=4), H)
    acts = drive(ex, 10, delay=2)
    assert all(a is not None for a in acts)
    assert acts[5].tolist() == [0.0, 5.0]  # the old chunk runs on while the next one is inferred
    assert acts[6].tolist() == [4.0, 2.0]  # the new chunk joins at its index 2: actions 0, 1 are past
    assert ex.boundaries == [6]


def test_rtc_weights_freeze_the_delay_and_decay_over_the_overlap():
    w = rtc_weights(committed=6, delay=2, chunk_size=H)
    assert w[:2].tolist() == [1.0, 1.0]
    assert np.all(np.diff(w[2:6]) < 0) and 0 < w[5] < w[2] < 1
    assert w[6:].tolist() == [0.0, 0.0]
    assert rtc_weights(0, 3, H).sum() == 0  # nothing committed, nothing held
    assert rtc_weights(4, 9, H).tolist() == [1.0] * 4 + [0.0] * 4  # the delay never exceeds what is committed


def test_rtc_request_carries_the_committed_actions_for_the_new_chunk_cycles():
    ex = ChunkExecutor(Execution("rtc", horizon=4), H, rtc="inpaint")
    ex.add(0, chunk_for(0))
    req = ex.rtc_request(4, delay=2)
    np.testing.assert_array_equal(req["rtc_prefix"][:4], chunk_for(0)[4:])  # cycles 4..7
    assert req["rtc_prefix"][4:].sum() == 0 and req["rtc_weights"][:2].tolist() == [1, 1]
    assert ChunkExecutor(Execution("rtc", horizon=4), H, rtc="inpaint").rtc_request(0, 2) == {}


def test_rtc_blend_mixes_old_and_new_over_the_overlap():
    ex = ChunkExecutor(Execution("rtc", horizon=4), H, rtc="blend")
    old = np.zeros((H, A))
    ex.add(0, old)
    ex.add(4, np.ones((H, A)), ready=6)  # requested at 4, available at 6: the 4 committed steps overlap
    w = rtc_weights(4, 2, H)
    for t in range(6, 12):
        np.testing.assert_allclose(ex.action(t), np.full(A, 1 - w[t - 4]), rtol=1e-6)
    assert ex.action(11).tolist() == [1.0, 1.0]  # past the overlap: the new chunk alone


def test_ensemble_averages_live_chunks():
    ex = ChunkExecutor(Execution("ensemble", horizon=1, ensemble_coef=0.0), H)
    ex.add(0, chunk_for(0))
    ex.add(1, chunk_for(1))
    assert ex.action(1).tolist() == [0.5, 0.5]  # mean of (0, 1) and (1, 0)


def test_mode_resolution_and_overrides():
    c = contract()
    assert resolve_execution(c) == c.execution
    assert resolve_execution(c, "rtc") == Execution("rtc", horizon=4)
    assert resolve_execution(c, "sync:2").horizon == 2
    ens = contract(execution=Execution("ensemble", horizon=1, ensemble_coef=0.01))
    assert resolve_execution(ens, "queue").horizon == H // 2  # from an ensemble contract: half the chunk
    assert resolve_execution(contract(), "ensemble").ensemble_coef == 0.01
    assert describe_execution(contract("blend"), resolve_execution(c, "rtc"))["rtc"] == "blend"
    assert parse_execution("rtc:3") == ("rtc", 3)


@pytest.mark.parametrize(
    ("rtc", "override", "message"),
    [
        (None, "rtc", "re-export"),
        ("inpaint", "rtc:8", "needs an overlap"),
        ("inpaint", "queue:9", "exceeds"),
        ("inpaint", "fast", "one of"),
        ("inpaint", "rtc:x", "integer"),
    ],
)
def test_impossible_execution_choices_are_refused(rtc, override, message):
    with pytest.raises(ConfigError, match=message):
        resolve_execution(contract(rtc), override)


def test_contract_refuses_an_unknown_rtc_method_and_round_trips_it():
    with pytest.raises(ConfigError, match="rtc"):
        contract("magic")
    c = contract("inpaint")
    assert PolicyContract.from_dict(c.to_dict()) == c
    names = [i["name"] for i in c.model_inputs()]
    assert names[-2:] == ["rtc_prefix", "rtc_weights"]
    arrays = c.model_arrays({"state": [0.0]})  # the rtc inputs are optional: zeros
    assert arrays[-2].shape == (H, A) and not arrays[-1].any()
    assert [i["name"] for i in contract(None).model_inputs()] == ["state"]


def test_injected_delay_is_deterministic_and_jittered():
    a, b = InjectedDelay(4, 2, seed=7).sampler(), InjectedDelay(4, 2, seed=7).sampler()
    da, db = [a() for _ in range(50)], [b() for _ in range(50)]
    assert da == db and set(da) <= {2, 3, 4, 5, 6} and len(set(da)) > 1
    assert InjectedDelay.parse("4~2", seed=7) == InjectedDelay(4, 2, 7)
    with pytest.raises(ConfigError, match="CYCLES"):
        InjectedDelay.parse("four")
    est = DelayEstimator(3)
    assert est.estimate() == 3
    for d in (1, 5, 2):
        est.observe(d)
    assert est.estimate() == 5


def test_rtc_inputs_refuse_a_malformed_prefix():
    with pytest.raises(ConfigError, match="committed"):
        rtc_inputs(np.zeros(3), 1, H)
