"""`InterventionRecorder`: a runtime observer that records a `physai run` session (policy steps and
human takeovers) as one episode of a LeRobot v3 dataset, with `control_source` per step.

The features are the ones `physai collect` writes for the same robot (`observation.state`, one video per
camera, `observation.tactile`, `action`, `next.success`) plus `control_source`, so the human segments can
be merged into the training data (`physai.teleop.segments`, `physai flywheel --intervention-weight`).
The recorded action is the one that was proposed this cycle (the policy's, or the human's), before the
supervisor; a cycle without one (the policy was late) records the command written. `next.success` is
the simulated task's success predicate (False on a real robot, which reports no success).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from physai.data import format as fmt
from physai.data.writer import DatasetWriter
from physai.teleop.arbiter import LABELS
from physai.teleop.session import CONTROL_SOURCE, control_source_feature


def features_from_info(info: Any) -> dict[str, dict]:
    """Dataset features of a connected robot (`DriverInfo`), as `env_features` makes them for its env."""
    feats: dict[str, dict] = {
        "observation.state": {
            "dtype": "float32",
            "shape": [len(info.state_names)],
            "names": list(info.state_names),
        }
    }
    if info.cameras:
        h, w = info.image_size
        for cam in info.cameras:
            feats[f"observation.images.{cam}"] = fmt.video_feature(h, w, info.hz, "h264")
    if info.tactile_dim:
        feats["observation.tactile"] = {"dtype": "float32", "shape": [int(info.tactile_dim)], "names": None}
    feats["action"] = {
        "dtype": "float32",
        "shape": [len(info.action_names)],
        "names": list(info.action_names),
    }
    feats["next.success"] = {"dtype": "bool", "shape": [1], "names": None}
    feats[CONTROL_SOURCE] = control_source_feature()
    return feats


class InterventionRecorder:
    """Records each runtime session into the dataset at `root` (created, or appended to)."""

    def __init__(self, root: str | Path, driver: Any = None, task: str | None = None) -> None:
        self.root, self.driver, self.task = Path(root), driver, task
        self.writer: DatasetWriter | None = None
        self.episode_index: int | None = None
        self.error: str | None = None
        self.steps = dict.fromkeys(LABELS, 0)

    def start(self, info: Any, pkg: Any) -> None:
        self.info = info
        self.cameras = list(info.cameras)
        self.writer = DatasetWriter(
            self.root,
            fps=info.hz,
            features=features_from_info(info),
            robot_type=info.embodiment,
            extra_info={
                "task": self.task,
                "control_mode": info.control,
                "cameras": self.cameras,
                "control_sources": list(LABELS),
                "recorded_by": "physai run --record",
            },
        )

    def _success(self) -> bool:
        env = getattr(self.driver, "env", None)
        try:
            return bool(env.task.success()) if env is not None else False
        except Exception:
            return False

    def cycle(self, record: Any) -> None:
        if self.writer is None:
            return
        action = record.action if record.action is not None else record.command
        label = record.source.split(":")[0]
        frame = {
            "observation.state": np.asarray(record.obs["state"], np.float32),
            "action": np.asarray(action, np.float32),
            "next.success": self._success(),
            CONTROL_SOURCE: np.int64(LABELS.index(label) if label in LABELS else 0),
        }
        for cam in self.cameras:
            frame[f"observation.images.{cam}"] = record.obs[f"images/{cam}"]
        if "observation.tactile" in self.writer.info["features"]:
            frame["observation.tactile"] = np.asarray(record.obs["tactile"], np.float32).ravel()
        self.steps[label if label in LABELS else "policy"] += 1
        self.writer.add_frame(frame)

    def close(self) -> None:
        """Drop an unsaved episode (the session failed before `end`) and close the dataset."""
        if self.writer is not None:
            self.writer.discard_episode()
            self.writer.close()
            self.writer = None

    def end(self, report: dict) -> None:
        if self.writer is None:
            return
        env = getattr(self.driver, "env", None)
        instruction = getattr(getattr(env, "task", None), "instruction", "") or self.task or "session"
        self.episode_index = self.writer.save_episode(instruction)
        self.writer.close()
        self.writer = None


class SourceDisplay:
    """A runtime observer that shows each cycle to the sources that display something (the browser
    page: status, motion for its latency probes, camera frames)."""

    def __init__(self, sources: list, arbiter: Any) -> None:
        self.sources = [s for s in sources if hasattr(s, "show")]
        self.arbiter = arbiter

    def start(self, info: Any, pkg: Any) -> None:
        pass

    def cycle(self, record: Any) -> None:
        d = getattr(self.arbiter, "last", None)
        label, _, holder = record.source.partition(":")
        status = {"step": record.cycle + 1, "label": label, "holder": holder or "policy", "success": None}
        for s in self.sources:
            try:
                s.show(record.obs, status, d.seq if d is not None else None)
            except Exception:
                pass

    def end(self, report: dict) -> None:
        pass
