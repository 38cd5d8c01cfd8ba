"""Bags <-> LeRobot v3 datasets.

`bag_to_dataset`: a ROS 2 log (any robot's topics) -> a dataset, through a MAP that names which topics and
fields become `observation.state`, `action` and `observation.images.<cam>`. Every mapped topic is
resampled onto a fixed-rate grid by zero-order hold (each frame holds the latest message at or before its
time, never a later one); a frame where some input is older than `max_age_s` is a gap: it ends the episode
and the next episode starts when every input is fresh again. Images go to video through physai's
`DatasetWriter`.

MAP (YAML)::

    fps: 20                       # resampling rate (frames/s)
    task: "pick up the cube"      # episode task text
    robot_type: franka            # optional, info.json robot_type
    max_age_s: 0.5                # optional, oldest input a frame may hold
    state:                        # concatenated in this order
      - {topic: /joint_states, field: position, names: [j1, j2]}   # JointState: pick joints by name
      - {topic: /tcp_pose, field: pose.position}                   # nested fields, flattened
    action:
      - {topic: /cmd, field: data}
    images:
      wrist: /camera/wrist/image_raw   # sensor_msgs/Image or CompressedImage

`dataset_to_mcap`: a dataset -> one MCAP file per episode with physai's session topics (so
`bag_to_dataset(..., physai_map(fps))` reads it back).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from physai.core.errors import ConfigError, DatasetError
from physai.core.progress import NullProgress, Progress
from physai.field import bag as bagio
from physai.field import mcap_writer as mw
from physai.field import rosmsg


@dataclass(frozen=True)
class Source:
    """One mapped input: a topic and the field of its messages to take."""

    topic: str
    """Topic name in the bag."""
    field: str = ""
    """Dotted field path into the message ('' for images: the whole message)."""
    names: tuple[str, ...] = ()
    """JointState-like messages: take these joints by name (in this order); empty: all, in message order."""
    labels: tuple[str, ...] = ()
    """Feature element names to record (default: joint names, or topic.field[i])."""


@dataclass(frozen=True)
class BagMap:
    """Which topics become which dataset features (parsed from MAP.yaml)."""

    fps: float
    """Resampling rate of the dataset (frames per second)."""
    state: tuple[Source, ...]
    """Sources of `observation.state`, concatenated."""
    action: tuple[Source, ...]
    """Sources of `action`, concatenated."""
    images: dict[str, str] = field(default_factory=dict)
    """Camera name -> image topic."""
    task: str = ""
    """Task text of every episode."""
    robot_type: str | None = None
    """`robot_type` in info.json."""
    max_age_s: float = 0.5
    """A frame may hold inputs at most this old; older is a gap (ends the episode)."""

    def topics(self) -> set[str]:
        return {s.topic for s in self.state + self.action} | set(self.images.values())


def _sources(raw: Any, key: str, where: str) -> tuple[Source, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: {key!r} must be a list of {{topic, field}} entries")
    out = []
    for i, e in enumerate(raw):
        if isinstance(e, str):
            e = {"topic": e}
        if not isinstance(e, dict) or "topic" not in e:
            raise ConfigError(f"{where}: {key}[{i}] needs a 'topic' (and usually a 'field')")
        unknown = set(e) - {"topic", "field", "names", "labels"}
        if unknown:
            raise ConfigError(
                f"{where}: {key}[{i}] has unknown keys {sorted(unknown)} (topic, field, names, labels)"
            )
        out.append(
            Source(
                str(e["topic"]),
                str(e.get("field", "")),
                tuple(map(str, e.get("names") or ())),
                tuple(map(str, e.get("labels") or ())),
            )
        )
    return tuple(out)


def load_map(path: str | Path | dict) -> BagMap:
    """Parse a MAP.yaml (or an already-loaded dict); raises ConfigError naming the file and key."""
    if isinstance(path, dict):
        d, where = path, "map"
    else:
        try:
            import yaml  # type: ignore[import-untyped, unused-ignore]  # PyYAML: installed with the field extra (rclpy)
        except ModuleNotFoundError:
            raise ConfigError("reading MAP.yaml needs PyYAML; pip install 'physai[field]'") from None

        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"map file {p} not found")
        try:
            d = yaml.safe_load(p.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p}: not valid YAML ({exc})") from None
        where = str(p)
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: a map is a mapping with fps, state, action, images")
    unknown = set(d) - {"fps", "state", "action", "images", "task", "robot_type", "max_age_s"}
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
    try:
        fps = float(d.get("fps", 0))
    except (TypeError, ValueError):
        fps = 0.0
    if not fps > 0:
        raise ConfigError(f"{where}: 'fps' must be a positive rate (the dataset's frames per second)")
    images = d.get("images") or {}
    if not isinstance(images, dict):
        raise ConfigError(f"{where}: 'images' maps camera names to image topics")
    m = BagMap(
        fps,
        _sources(d.get("state"), "state", where),
        _sources(d.get("action"), "action", where),
        {str(k): str(v) for k, v in images.items()},
        str(d.get("task", "")),
        d.get("robot_type"),
        float(d.get("max_age_s", 0.5)),
    )
    if not m.state or not m.action:
        raise ConfigError(f"{where}: needs at least one 'state' and one 'action' source")
    return m


def physai_map(fps: float, cameras: list[str] | tuple[str, ...] = (), task: str = "") -> BagMap:
    """The map of physai's own session topics (`physai run --record`, `--to mcap`)."""
    return BagMap(
        fps,
        (Source(mw.STATE, "position"),),
        (Source(mw.COMMAND, "position"),),
        {c: mw.IMAGES + c for c in cameras},
        task,
    )


# --------------------------------------------------------------------------- field extraction
def _get(msg: Any, path: str, where: str) -> Any:
    cur = msg
    for part in [p for p in path.split(".") if p]:
        if not hasattr(cur, part):
            have = [f for f in getattr(cur, "__dataclass_fields__", {}) if f != "__msgtype__"]
            raise ConfigError(f"{where}: no field {part!r} in {type(cur).__name__} (fields: {have})")
        cur = getattr(cur, part)
    return cur


def _flatten(v: Any) -> list[float]:
    if isinstance(v, np.ndarray):
        return [float(x) for x in v.ravel()]
    if isinstance(v, (int, float, np.number, bool)):
        return [float(v)]
    if isinstance(v, (list, tuple)):
        return [x for e in v for x in _flatten(e)]
    fields = [f for f in getattr(v, "__dataclass_fields__", {}) if f not in ("__msgtype__", "header")]
    if fields:
        return [x for f in fields for x in _flatten(getattr(v, f)) if not isinstance(getattr(v, f), str)]
    return []


class _Extractor:
    """Values (and labels) of one `Source` from its messages."""

    def __init__(self, src: Source, msgtype: str) -> None:
        self.src, self.msgtype = src, msgtype
        self.where = f"topic {src.topic} ({msgtype}), field {src.field!r}"
        self.index: np.ndarray | None = None
        self.labels: list[str] = []

    def __call__(self, msg: Any) -> np.ndarray:
        val = _get(msg, self.src.field, self.where)
        if self.src.names:
            names = list(getattr(msg, "name", []) or [])
            if self.index is None:
                missing = [n for n in self.src.names if n not in names]
                if missing:
                    raise ConfigError(
                        f"{self.where}: joints {missing} are not in the message (it has {names})"
                    )
                self.index = np.array([names.index(n) for n in self.src.names])
            arr = np.asarray(val, float)[self.index]
        else:
            arr = np.asarray(_flatten(val), float)
        if not self.labels:
            self.labels = self._labels(msg, len(arr))
        elif len(self.labels) != len(arr):
            raise DatasetError(f"{self.where}: message size changed from {len(self.labels)} to {len(arr)}")
        return arr

    def _labels(self, msg: Any, n: int) -> list[str]:
        s = self.src
        if s.labels:
            if len(s.labels) != n:
                raise ConfigError(f"{self.where}: {len(s.labels)} labels for {n} values")
            return list(s.labels)
        names = list(s.names) or list(getattr(msg, "name", []) or [])
        if len(names) == n:
            return names if s.field == "position" else [f"{x}.{s.field}" for x in names]
        base = f"{s.topic.strip('/').replace('/', '.')}.{s.field}" if s.field else s.topic.strip("/")
        return [f"{base}[{i}]" for i in range(n)]


# --------------------------------------------------------------------------- bag -> dataset
def _check_topics(m: BagMap, have: dict[str, str], src: Path) -> None:
    missing = sorted(t for t in m.topics() if t not in have)
    if missing:
        listing = ", ".join(f"{t} ({ty})" for t, ty in sorted(have.items())) or "(none)"
        raise ConfigError(
            f"{src}: the map needs topics {missing} that the bag does not have; the bag's topics: "
            f"{listing}; fix the map's topic names"
        )
    for cam, t in m.images.items():
        if have[t] not in ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage"):
            raise ConfigError(f"{src}: camera {cam!r} maps {t}, which is {have[t]}, not sensor_msgs/Image")


@dataclass
class _Episode:
    state: list = field(default_factory=list)
    action: list = field(default_factory=list)


def bag_to_dataset(  # noqa: C901
    src: str | Path,
    out: str | Path,
    bag_map: BagMap,
    kind: str | None = None,
    progress: Progress | None = None,
) -> dict:
    """Convert the bag at `src` into a new LeRobot v3 dataset at `out`; returns a summary."""
    from physai.data.writer import DatasetWriter

    src, out = Path(src), Path(out)
    if not src.exists():
        raise ConfigError(f"bag {src} not found")
    kind = kind or bagio.detect_kind(src)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} exists and is not empty; choose a new output folder")
    have = bagio.topics(src, kind)
    _check_topics(bag_map, have, src)
    wanted = bag_map.topics()
    extract = {id(s): _Extractor(s, have[s.topic]) for s in bag_map.state + bag_map.action}
    by_topic: dict[str, list[Source]] = {}
    for s in bag_map.state + bag_map.action:
        by_topic.setdefault(s.topic, []).append(s)
    cams = {t: c for c, t in bag_map.images.items()}
    latest: dict[int | str, tuple[int, Any]] = {}  # source id / camera -> (time ns, value)
    period = int(round(1e9 / bag_map.fps))
    max_age = int(bag_map.max_age_s * 1e9)
    writer: DatasetWriter | None = None
    grid: int | None = None
    frames = episodes = gaps = 0
    ep_frames = 0
    t_start = time.perf_counter()
    progress = progress or NullProgress()
    progress.start(None, f"convert {src.name}")
    contents = bagio.BagContents()
    keys: list[int | str] = [id(s) for s in bag_map.state + bag_map.action] + list(bag_map.images)

    def emit(g: int) -> None:
        nonlocal writer, frames, ep_frames, episodes, gaps
        if any(g - latest[k][0] > max_age for k in keys):
            if ep_frames:
                gaps += 1
                episodes += _save(writer, ep_frames, bag_map.task)
                ep_frames = 0
            return
        state = np.concatenate([latest[id(s)][1] for s in bag_map.state]).astype(np.float32)
        action = np.concatenate([latest[id(s)][1] for s in bag_map.action]).astype(np.float32)
        frame: dict[str, Any] = {"observation.state": state, "action": action}
        for cam in bag_map.images:
            frame[f"observation.images.{cam}"] = latest[cam][1]
        if writer is None:
            writer = DatasetWriter(
                out,
                bag_map.fps,
                _features(bag_map, extract, latest),
                bag_map.robot_type,
                extra_info={"source_bag": str(src), "source_kind": kind},
            )
        writer.add_frame(frame)
        frames += 1
        ep_frames += 1
        progress.advance(1)

    try:
        for topic, mt, t, msg in bagio.messages(src, kind, wanted, contents):
            if grid is not None:
                while grid < t:  # every message at or before `grid` has been seen
                    emit(grid)
                    grid += period
            for s in by_topic.get(topic, ()):
                latest[id(s)] = (t, extract[id(s)](msg))
            if topic in cams:
                latest[cams[topic]] = (t, rosmsg.image_array(msg, mt, f"topic {topic}"))
            if grid is None and all(k in latest for k in keys):
                grid = max(v[0] for v in latest.values())
        if grid is not None and all(grid - latest[k][0] <= max_age for k in keys):
            emit(grid)  # the last grid point that every input has reached
        if writer is not None and ep_frames:
            episodes += _save(writer, ep_frames, bag_map.task)
    finally:
        if writer is not None:
            writer.close()
        progress.close()
    if frames == 0:
        raise DatasetError(
            f"{src}: the mapped topics never all had a message within {bag_map.max_age_s} s of "
            "each other; nothing to convert (check the map, or raise max_age_s)"
        )
    secs = time.perf_counter() - t_start
    return {
        "src": str(src),
        "out": str(out),
        "kind": kind,
        "episodes": episodes,
        "frames": frames,
        "fps": bag_map.fps,
        "gaps": gaps,
        "truncated": contents.truncated,
        "seconds": secs,
        "frames_per_s": frames / secs if secs > 0 else 0.0,
    }


def _save(writer: Any, n: int, task: str) -> int:
    if n < 2:
        writer.discard_episode()
        return 0
    writer.save_episode(task)
    return 1


def _features(m: BagMap, extract: dict[int, _Extractor], latest: dict) -> dict[str, dict]:
    from physai.data import format as fmt

    feats: dict[str, dict] = {}
    for key, srcs in (("observation.state", m.state), ("action", m.action)):
        names = [n for s in srcs for n in extract[id(s)].labels]
        feats[key] = {"dtype": "float32", "shape": [len(names)], "names": names}
    for cam in m.images:
        h, w = latest[cam][1].shape[:2]
        feats[f"observation.images.{cam}"] = fmt.video_feature(h, w, m.fps, "h264")
    return feats


# --------------------------------------------------------------------------- dataset -> mcap
def dataset_to_mcap(src: str | Path, out: str | Path, progress: Progress | None = None) -> dict:
    """Write every episode of the dataset at `src` as `out/episode_NNNNNN.mcap` (physai's topics)."""
    from physai.data.dataset import Dataset

    src, out = Path(src), Path(out)
    ds = Dataset(src)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} exists and is not empty; choose a new output folder")
    out.mkdir(parents=True, exist_ok=True)
    data = ds.arrays()
    cams = [k[len("observation.images.") :] for k in ds.camera_keys if k.startswith("observation.images.")]
    st_names = list(ds.features.get("observation.state", {}).get("names") or [])
    ac_names = list(ds.features.get("action", {}).get("names") or [])
    period = int(round(1e9 / ds.fps))
    t0 = time.time_ns()
    files, frames = [], 0
    progress = progress or NullProgress()
    progress.start(len(ds), f"{src.name} -> mcap")
    for ep in range(ds.num_episodes):
        lo, hi = ds.episode_range(ep)
        path = out / f"episode_{ep:06d}.mcap"
        m = mw.SessionMcap(path)
        try:
            m.write_json(
                mw.SESSION,
                {
                    "event": "start",
                    "dataset": str(src),
                    "episode": ep,
                    "task": ds._ep_task[ep],
                    "fps": ds.fps,
                },
                t0,
            )
            for i in range(lo, hi):
                ns = t0 + (i - lo) * period
                s = np.asarray(data["observation.state"][i], float) if "observation.state" in data else None
                if s is not None:
                    names = st_names if len(st_names) == len(s) else [f"s{j}" for j in range(len(s))]
                    m.write(mw.STATE, rosmsg.joint_state(ns, names, s), ns, mw.TOPIC_TYPES[mw.STATE])
                a = np.asarray(data["action"][i], float)
                names = ac_names if len(ac_names) == len(a) else [f"a{j}" for j in range(len(a))]
                m.write(mw.COMMAND, rosmsg.joint_state(ns, names, a), ns, mw.TOPIC_TYPES[mw.COMMAND])
                if cams:
                    item = ds[i]
                    for c in cams:
                        img = (item[f"observation.images.{c}"].numpy().transpose(1, 2, 0) * 255 + 0.5).astype(
                            np.uint8
                        )
                        m.write(mw.IMAGES + c, rosmsg.image(ns, img, c), ns, "sensor_msgs/msg/Image")
                frames += 1
                progress.advance(1)
        finally:
            m.close()
        files.append(str(path))
        t0 += (hi - lo + 10) * period
    progress.close()
    return {
        "src": str(src),
        "out": str(out),
        "files": files,
        "episodes": len(files),
        "frames": frames,
        "cameras": cams,
        "fps": ds.fps,
    }


def session_map(src: Path, kind: str, fps: float | None = None) -> BagMap:
    """The map of a physai recording, read from its `/physai/session` start message (rate, cameras);
    a bag without one needs a MAP.yaml."""
    import json

    have = bagio.topics(src, kind)
    if mw.SESSION not in have or mw.STATE not in have:
        listing = ", ".join(f"{t} ({ty})" for t, ty in sorted(have.items())) or "(none)"
        raise ConfigError(
            f"{src} is not a physai recording (no {mw.SESSION}); pass --map MAP.yaml naming which "
            f"topics become state, action and images. The bag's topics: {listing}"
        )
    start: dict = {}
    for _, _, _, msg in bagio.messages(src, kind, {mw.SESSION}, bagio.BagContents()):
        doc = json.loads(msg.data)
        if doc.get("event") == "start":
            start = doc
            break
    robot = start.get("robot") or {}
    rate = fps or robot.get("hz") or start.get("fps")
    if not rate:
        raise ConfigError(f"{src}: the session message has no rate; pass --fps")
    cams = robot.get("cameras") or [t[len(mw.IMAGES) :] for t in have if t.startswith(mw.IMAGES)]
    task = start.get("task") or ((start.get("contract") or {}).get("tasks") or [""])[0]
    return physai_map(float(rate), cams, task)
