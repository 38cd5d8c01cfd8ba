"""`McapRecorder`: a runtime observer that records a `physai run` session to MCAP (ROS 2 encodings).

The control thread only hands each `CycleRecord` to a bounded queue (no serialization, no I/O); a
background thread turns records into messages (see `physai.field.mcap_writer` for the topics) and writes
them. A full queue (the disk cannot keep up) never blocks the loop: the record is dropped and counted
(`dropped` in the report and in the file's session message). `close()` drains the queue and writes the
MCAP summary; the CLI calls it on every exit path (episode end, protective stop, Ctrl-C, exception), and
`end(report)` calls it after a normal end.
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from physai.field import mcap_writer as mw
from physai.field import rosmsg

_END = object()


class McapRecorder:
    """Record every cycle of a runtime session into `path` (a new .mcap file)."""

    def __init__(
        self, path: str | Path, queue_size: int = 512, chunk_size: int = 256 * 1024, compression: str = "lz4"
    ) -> None:
        self.path = Path(path)
        self._mcap = mw.SessionMcap(self.path, chunk_size=chunk_size, compression=compression)
        self._q: queue.Queue = queue.Queue(maxsize=queue_size)
        self.dropped = 0
        self.recorded = 0
        self.error: BaseException | None = None
        self._offset_ns = time.time_ns() - time.monotonic_ns()  # monotonic -> wall clock
        self._state_names: list[str] = []
        self._joint_names: list[str] = []
        self._action_names: list[str] = []
        self._cameras: list[str] = []
        self._closed = False
        self._lock = threading.Lock()
        self._t = threading.Thread(target=self._loop, name="physai-mcap", daemon=True)
        self._t.start()

    # ------------------------------------------------------------ observer protocol (control thread)
    def start(self, info: Any, pkg: Any) -> None:
        self._put(("start", info, pkg))

    def cycle(self, record: Any) -> None:
        self._put(("cycle", record))

    def end(self, report: dict) -> None:
        self._put(("end", report))
        self.close()

    def _put(self, item: tuple) -> None:
        if self._closed:
            return
        try:
            self._q.put_nowait(item)
        except queue.Full:
            self.dropped += 1

    # ------------------------------------------------------------ writer thread
    def _loop(self) -> None:
        while True:
            item = self._q.get()
            if item is _END:
                return
            if self.error is not None:
                continue  # keep draining so the control thread never blocks
            try:
                kind = item[0]
                if kind == "cycle":
                    self._write_cycle(item[1])
                elif kind == "start":
                    self._write_start(item[1], item[2])
                else:
                    self._mcap.write_json(
                        mw.SESSION,
                        {
                            "event": "end",
                            "report": item[1],
                            "dropped": self.dropped,
                            "recorded": self.recorded,
                        },
                        time.time_ns(),
                    )
            except BaseException as exc:
                self.error = exc

    def _write_start(self, info: Any, pkg: Any) -> None:
        self._state_names = list(getattr(info, "state_names", []) or [])
        self._action_names = list(getattr(info, "action_names", []) or [])
        lim = getattr(info, "safety_limits", None)
        self._joint_names = list(getattr(lim, "joint_names", ()) or ())
        self._cameras = list(getattr(info, "cameras", []) or [])
        m = self._mcap
        for topic, t in mw.TOPIC_TYPES.items():
            m.channel(topic, t)
        for cam in self._cameras:
            m.channel(mw.IMAGES + cam, "sensor_msgs/msg/Image")
        contract = pkg.contract.to_dict() if hasattr(pkg, "contract") else {}
        robot = {
            "embodiment": getattr(info, "embodiment", None),
            "control": getattr(info, "control", None),
            "hz": getattr(info, "hz", None),
            "cameras": self._cameras,
            "state_names": self._state_names,
            "action_names": self._action_names,
        }
        m.metadata(
            "physai",
            {
                "package": str(getattr(pkg, "path", "")),
                "embodiment": str(robot["embodiment"]),
                "control": str(robot["control"]),
                "hz": str(robot["hz"]),
            },
        )
        m.write_json(mw.SESSION, {"event": "start", "robot": robot, "contract": contract}, time.time_ns())

    def _write_cycle(self, r: Any) -> None:
        m, ns = _Yielding(self._mcap), int(r.t * 1e9) + self._offset_ns
        q = np.asarray(getattr(r.robot, "joint_pos", np.zeros(0)), float)
        names = (
            self._joint_names if len(self._joint_names) == len(q) else [f"joint{i}" for i in range(len(q))]
        )
        m.write_cdr(mw.JOINTS, rosmsg.cdr_joint_state(ns, names, q), ns)
        state = r.obs.get("state")
        if state is not None:
            s = np.asarray(state, float).ravel()
            sn = self._state_names if len(self._state_names) == len(s) else [f"s{i}" for i in range(len(s))]
            m.write_cdr(mw.STATE, rosmsg.cdr_joint_state(ns, sn, s), ns)
        for cam in self._cameras:
            img = r.obs.get(f"images/{cam}")
            if img is not None:
                m.write_cdr(mw.IMAGES + cam, rosmsg.cdr_image(ns, img, cam), ns)
        cmd = np.asarray(r.command, float).ravel()
        an = self._action_names if len(self._action_names) == len(cmd) else [f"a{i}" for i in range(len(cmd))]
        m.write_cdr(mw.COMMAND, rosmsg.cdr_joint_state(ns, an, cmd), ns)
        m.write_cdr(mw.SOURCE, rosmsg.cdr_string(r.source), ns)
        if r.action is None:
            m.write_json(mw.INTERVENTION, {"cycle": r.cycle, "kind": "no_action"}, ns)
        else:
            a = np.asarray(r.action, float).ravel()
            m.write_cdr(mw.PROPOSED, rosmsg.cdr_joint_state(ns, an, a), ns)
            if a.shape != cmd.shape or not np.allclose(a, cmd, atol=1e-9, equal_nan=True):
                change = float(np.max(np.abs(a - cmd))) if a.shape == cmd.shape else float("nan")
                m.write_json(
                    mw.INTERVENTION,
                    {"cycle": r.cycle, "kind": "modified", "source": r.source, "max_abs_change": change},
                    ns,
                )
        m.write_cdr(
            mw.TIMING,
            rosmsg.cdr_float_array(np.array([r.cycle, r.t, r.work_s]), "cycle,t_monotonic_s,work_s"),
            ns,
        )
        self.recorded += 1

    # ------------------------------------------------------------ shutdown (any thread)
    def close(self, timeout: float = 30.0) -> dict:
        """Drain what is queued, write the MCAP summary, close the file; returns a summary. Idempotent."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._q.put(_END)  # blocking: everything queued before is written first
                self._t.join(timeout)
                self._mcap.close()
        return {
            "path": str(self.path),
            "cycles": self.recorded,
            "dropped": self.dropped,
            "messages": self._mcap.messages,
            "error": None if self.error is None else repr(self.error),
        }


class _Yielding:
    """The session writer, releasing the GIL after every message: a control thread that wakes while the
    writer thread is busy then waits for one message's work (tens of microseconds), not for Python's
    5 ms switch interval."""

    def __init__(self, mcap: mw.SessionMcap) -> None:
        self._m = mcap

    def write_cdr(self, topic: str, data: bytes, log_ns: int) -> None:
        self._m.write_cdr(topic, data, log_ns)
        time.sleep(0)

    def write_json(self, topic: str, doc: dict, log_ns: int) -> None:
        self._m.write_json(topic, doc, log_ns)
        time.sleep(0)
