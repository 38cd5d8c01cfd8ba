"""The openpi websocket client against a minimal loopback server implementing the protocol exactly."""

import threading
import traceback

import msgpack
import numpy as np
import pytest
from websockets.sync.server import serve

from physai.evaluate import EvalConfig, run_eval
from physai.evaluate.remote import RemotePolicy, RemotePolicyError, packb, unpackb

TASK = "tabletop/pick-place"


class LoopbackServer:
    """openpi protocol: metadata on connect; {"actions": (H, A)} per observation; error -> text + 1011."""

    def __init__(self, meta: dict, action_shape=(4, 7), fail=False):
        self.meta, self.action_shape, self.fail = meta, action_shape, fail
        self.received: list[dict] = []

    def handler(self, ws):
        ws.send(packb(self.meta))
        for msg in ws:
            try:
                obs = unpackb(msg)
                self.received.append(obs)
                if self.fail:
                    raise ValueError("model exploded")
                ws.send(packb({"actions": np.zeros(self.action_shape, np.float32),
                               "server_timing": {"infer_ms": 0.1}}))
            except Exception:
                ws.send(traceback.format_exc())
                ws.close(code=1011, reason="Internal server error. Traceback included in previous frame.")
                return

    def __enter__(self):
        self.server = serve(self.handler, "127.0.0.1", 0, compression=None, max_size=None)
        self.uri = f"ws://127.0.0.1:{self.server.socket.getsockname()[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(5)


ARM = {"embodiment": "arm7", "control": "ee_delta", "action_dim": 7}


def test_msgpack_numpy_matches_openpi_convention():
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    raw = msgpack.unpackb(packb({"a": arr, "s": np.float32(2.5)}), raw=False)
    assert raw["a"] == {b"__ndarray__": True, b"data": arr.tobytes(), b"dtype": "<f4", b"shape": [2, 3]}
    assert raw["s"] == {b"__npgeneric__": True, b"data": 2.5, b"dtype": "<f4"}
    back = unpackb(packb({"a": arr, "txt": "hi"}))
    assert back["txt"] == "hi" and back["a"].dtype == np.float32 and np.array_equal(back["a"], arr)


def test_remote_policy_chunks_and_eval_through_a_worker(tmp_path):
    with LoopbackServer(ARM) as srv:
        pol = RemotePolicy(srv.uri, action_dim=7)
        assert pol.metadata == ARM
        obs = {"state": np.ones(38, np.float32), "instruction": "put it in the tray"}
        acts = [pol.act(obs) for _ in range(5)]
        assert len(srv.received) == 2  # a chunk of 4 serves 4 steps, the 5th step queries again
        first = srv.received[0]
        assert first["state"].shape == (38,) and first["instruction"] == "put it in the tray"
        assert all(a.shape == (7,) for a in acts) and pol.server_timing[0]["infer_ms"] == 0.1
        pol.close()
        doc = run_eval(EvalConfig(policy=srv.uri, out=tmp_path, tasks=TASK, episodes=2, workers=1,
                                  max_steps=6, report=False))
    assert [e["status"] for e in doc["episodes"]] == ["ok", "ok"]
    assert [e["length"] for e in doc["episodes"]] == [6, 6]
    assert doc["policy"]["kind"] == "remote" and doc["policy"]["server_metadata"]["embodiment"] == "arm7"


def test_wrong_shape_and_server_error_error_the_episode_only(tmp_path):
    with LoopbackServer(ARM, action_shape=(4, 5)) as srv:
        doc = run_eval(EvalConfig(policy=srv.uri, out=tmp_path / "a", tasks=TASK, episodes=2, workers=0,
                                  max_steps=5, report=False))
    assert len(doc["episodes"]) == 2 and all(e["status"] == "error" for e in doc["episodes"])
    assert "shape (4, 5)" in doc["episodes"][0]["error"] and "expected (H, 7)" in doc["episodes"][0]["error"]
    with LoopbackServer(ARM, fail=True) as srv:
        pol = RemotePolicy(srv.uri, action_dim=7)
        with pytest.raises(RemotePolicyError, match="model exploded"):
            pol.act({"state": np.zeros(38, np.float32)})
        with pytest.raises(RemotePolicyError, match="closed the connection .code 1011"):
            pol.act({"state": np.zeros(38, np.float32)})


def test_unreachable_or_foreign_remote_fails_before_workers(tmp_path):
    with LoopbackServer(ARM) as srv:
        dead = srv.uri
    with pytest.raises(RemotePolicyError, match="cannot reach the remote policy"):
        run_eval(EvalConfig(policy=dead, out=tmp_path, tasks=TASK, episodes=1))
    from physai.core.errors import ConfigError

    with LoopbackServer({"robot_type": "bimanual", "action_dim": 14}) as srv:
        with pytest.raises(ConfigError, match="is for robot 'bimanual'"):
            run_eval(EvalConfig(policy=srv.uri, out=tmp_path, tasks=TASK, episodes=1))
