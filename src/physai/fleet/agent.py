"""The robot agent: pulls its assigned package (verified before use), runs it with the deploy runtime
and safety supervisor, records each episode as a LeRobot v3 dataset, streams batched telemetry and
uploads episodes. Everything outgoing goes through a disk spool first, so the robot keeps working while
the server is unreachable and catches up when it returns; sequence numbers make re-sends harmless. They
carry the installation's random `agent_id` and an epoch, so a re-installed agent counting from 0 again
is not mistaken for re-sends.
"""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from physai.core.errors import ConfigError, PackageError
from physai.core.progress import NullProgress, Progress
from physai.fleet.client import FleetClient, FleetError, FleetUnreachable

MAX_SEQ = 2**31 - 1
"""Largest telemetry sequence number the service takes."""
IDLE_W = 40.0  # modelled controller + drives idle power of a simulated arm (W)


@dataclass
class AgentConfig:
    """Settings of one robot agent."""

    server: str
    """Fleet service URL, e.g. http://127.0.0.1:8080."""
    key_file: Path
    """File holding this robot's API key (from enrollment)."""
    robot: str = "sim:tabletop/pick-place"
    """Robot URI; `sim:<task>` runs the task in MuJoCo through the sim driver."""
    work_dir: Path = Path("fleet-agent")
    """Spool, outbox, package cache and agent state."""
    trusted_keys: list[Path] = field(default_factory=list)
    """Public keys packages must be signed with (plus $PHYSAI_TRUSTED_KEYS)."""
    cameras: tuple[str, ...] = ()
    """Cameras recorded as video in field episodes, besides the ones the package reads."""
    image_size: int = 64
    """Square camera image size when the package reads no camera (else the package's size)."""
    max_steps: int = 300
    """Episode step limit."""
    realtime: bool = False
    """Pace the control loop in real time (False: as fast as possible, same behaviour)."""
    collaborative: bool = True
    """Cap TCP speed at the ISO 10218 collaborative 250 mm/s; False for cells without people."""
    seed: int = 0
    """Seed of the first episode; episode k uses seed + k."""
    telemetry_every: int = 10
    """Send one telemetry message every this many control cycles."""
    timeout: float = 10.0
    """HTTP timeout (seconds)."""


class _Recorder:
    """Driver wrapper: records (observation, supervised command) pairs and modelled energy."""

    def __init__(self, driver, on_cycle) -> None:
        self.d, self.on_cycle = driver, on_cycle
        self.frames: list[dict] = []
        self.energy_j = 0.0
        self._last = None

    def connect(self):
        info = self.d.connect()
        self.env = self.d.env
        return info

    def read(self):
        self._last = self.d.read()
        return self._last

    def write(self, command: np.ndarray) -> None:
        self.d.write(command)
        env = self.env
        mech = float(np.abs(env.data.qfrc_actuator * env.data.qvel).sum())
        self.energy_j += (IDLE_W + mech) * env.control_dt
        if self._last is not None:
            from physai.data.recorder import obs_to_frame

            self.frames.append(
                obs_to_frame(
                    self._last.obs, command, {"is_success": self._last.success}, list(self.d.cameras)
                )
            )
            self.on_cycle(len(self.frames), self.energy_j)

    def stop(self) -> None:
        self.d.stop()

    def disconnect(self) -> None:
        self.d.disconnect()

    def __getattr__(self, name: str):
        return getattr(self.d, name)


class Agent:
    """One robot's agent; `run(episodes)` is bounded and returns a summary."""

    def __init__(self, cfg: AgentConfig, client: FleetClient | None = None) -> None:
        self.cfg = cfg
        kf = Path(cfg.key_file)
        if not kf.exists():
            raise ConfigError(f"--key-file {kf} does not exist; enroll the robot first (physai fleet enroll)")
        if not cfg.robot.startswith("sim:"):
            raise ConfigError(
                f"--robot {cfg.robot!r}: the agent drives sim:<task> robots here; real robots plug "
                f"in a RobotDriver"
            )
        self.task = cfg.robot[4:]
        self.client = client or FleetClient(cfg.server, kf.read_text().strip(), timeout=cfg.timeout)
        self.dir = Path(cfg.work_dir)
        for sub in ("spool", "outbox", "packages"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.state_path = self.dir / "state.json"
        self.state = (
            json.loads(self.state_path.read_text())
            if self.state_path.exists()
            else {"next_seq": 0, "episodes": 0, "package": None}
        )
        if "agent_id" not in self.state:
            # this installation's identity: telemetry is numbered (agent_id, epoch, seq), so a re-installed
            # agent, whose seq starts at 0 again, is not taken for re-sends of the previous one
            self.state["agent_id"], self.state["epoch"] = uuid.uuid4().hex, 0
            self._save()
        self.spool = self.dir / "spool" / "telemetry.jsonl"
        self.online = False
        self.events: list[str] = []

    # ------------------------------------------------------------------ persistence
    def _save(self) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state))
        tmp.replace(self.state_path)

    def emit(
        self, state: str, interventions: int = 0, outcome: str | None = None, energy_j: float = 0.0
    ) -> None:
        """Append one telemetry message to the spool (sent by `flush`)."""
        pkg = self.state["package"]
        if self.state["next_seq"] > MAX_SEQ:  # numbering exhausted: a new epoch starts at 0
            self.state["epoch"], self.state["next_seq"] = self.state["epoch"] + 1, 0
        msg = {
            "agent_id": self.state["agent_id"],
            "epoch": self.state["epoch"],
            "seq": self.state["next_seq"],
            "t": datetime.now(UTC).isoformat(),
            "state": state,
            "interventions": int(interventions),
            "outcome": outcome,
            "energy_j": float(energy_j),
            "package_id": pkg["id"] if pkg else None,
        }
        self.state["next_seq"] += 1
        with open(self.spool, "a") as f:
            f.write(json.dumps(msg) + "\n")
        self._save()

    # ------------------------------------------------------------------ talking to the service
    def flush(self) -> dict:
        """Send spooled telemetry (batches of <= 1000) and queued episodes; keep what could not be sent."""
        sent = uploaded = 0
        try:
            if self.spool.exists():
                lines = [ln for ln in self.spool.read_text().splitlines() if ln.strip()]
                while lines:
                    batch = lines[:1000]
                    self.client.post("/telemetry", {"messages": [json.loads(x) for x in batch]})
                    sent += len(batch)
                    lines = lines[1000:]
                    tmp = self.spool.with_suffix(".tmp")
                    tmp.write_text("".join(x + "\n" for x in lines))
                    tmp.replace(self.spool)
            for meta_path in sorted((self.dir / "outbox").glob("*.json")):
                tar = meta_path.with_suffix(".tar")
                self.client.upload_episode(tar.read_bytes(), json.loads(meta_path.read_text()))
                tar.unlink()
                meta_path.unlink()
                uploaded += 1
            self.online = True
        except FleetUnreachable:
            self.online = False
        return {"telemetry_sent": sent, "episodes_uploaded": uploaded, "online": self.online}

    def sync(self, state: str = "idle") -> dict | None:
        """Heartbeat; fetch and verify a newly assigned package. Returns the assignment (None offline)."""
        pkg = self.state["package"]
        try:
            hb = self.client.post("/heartbeat", {"state": state, "package_id": pkg["id"] if pkg else None})
        except FleetUnreachable:
            self.online = False
            return None
        self.online = True
        a = hb.get("assignment")
        if a and (pkg is None or pkg["id"] != a["package_id"]):
            self._install(a)
        return a

    def _install(self, a: dict) -> None:
        from physai.deploy import signing
        from physai.deploy.package import load_package
        from physai.fleet.storage import safe_extract

        dest = self.dir / "packages" / f"{a['package_id']}"
        shutil.rmtree(dest, ignore_errors=True)
        data = self.client.download(f"/packages/{a['package_id']}/archive")
        safe_extract(data, dest, f"package {a['name']} {a['version']}")
        keys = signing.trusted_keys(list(self.cfg.trusted_keys), _trust_dir())
        try:
            pkg = load_package(dest, keys)
        except PackageError as exc:
            shutil.rmtree(dest, ignore_errors=True)
            self.events.append(f"refused package {a['package_id']}: {exc}")
            self.emit("package_refused")
            return
        self.state["package"] = {
            "id": a["package_id"],
            "name": a["name"],
            "version": a["version"],
            "path": str(dest),
            "signed_by": pkg.signed_by,
        }
        self._save()
        self.events.append(f"installed package {a['name']} {a['version']} (signed by {pkg.signed_by})")

    # ------------------------------------------------------------------ field episodes
    def run_episode(self) -> dict:
        """Run one episode with the installed package (verified again on load); queue its upload."""
        from physai.data.recorder import env_features
        from physai.data.writer import DatasetWriter
        from physai.deploy import signing
        from physai.deploy.drivers.sim import sim_driver_for
        from physai.deploy.package import load_package
        from physai.deploy.runtime import Runtime, RuntimeConfig
        from physai.deploy.safety import SupervisorConfig
        from physai.fleet.storage import tar_dir

        info = self.state["package"]
        if info is None:
            raise ConfigError(
                "no package installed yet: the server has not assigned one to this robot "
                "(create a deployment for its site and group)"
            )
        pkg = load_package(
            Path(info["path"]), signing.trusted_keys(list(self.cfg.trusted_keys), _trust_dir())
        )
        n = self.state["episodes"]
        drv = sim_driver_for(
            pkg.contract,
            self.task,
            extra_cameras=self.cfg.cameras,
            image_size=(self.cfg.image_size, self.cfg.image_size),
            seed=self.cfg.seed + n,
            realtime=self.cfg.realtime,
            max_steps=self.cfg.max_steps,
        )

        def on_cycle(k: int, energy: float) -> None:
            if k % self.cfg.telemetry_every == 0:
                self.emit("running", energy_j=energy - self._energy_sent)
                self._energy_sent = energy

        self._energy_sent = 0.0
        rec = _Recorder(drv, on_cycle)
        sup = SupervisorConfig(collaborative=self.cfg.collaborative)
        rep = Runtime(pkg, rec, RuntimeConfig(realtime=self.cfg.realtime, supervisor=sup)).run()
        interventions = int(sum(rep["safety"]["interventions"].values()))
        outcome = "success" if rep["success"] else "failure"
        self.emit(
            "idle", interventions=interventions, outcome=outcome, energy_j=rec.energy_j - self._energy_sent
        )
        tmp = self.dir / "tmp-episode"
        shutil.rmtree(tmp, ignore_errors=True)
        env_probe = sim_driver_for(
            pkg.contract,
            self.task,
            extra_cameras=self.cfg.cameras,
            image_size=(self.cfg.image_size, self.cfg.image_size),
            realtime=False,
        )
        env_probe.connect()
        feats = env_features(env_probe.env)
        fps = pkg.contract.control_hz
        env_probe.disconnect()
        with DatasetWriter(tmp, fps=fps, features=feats, robot_type=pkg.contract.embodiment) as w:
            for fr in rec.frames:
                w.add_frame(fr)
            # the dataset's task is the episode's instruction, as in `physai collect` datasets
            instr = getattr(getattr(rec.env, "task", None), "instruction", "") if rec.env is not None else ""
            w.save_episode(instr or self.task)
        name = f"{n:06d}"
        (self.dir / "outbox" / f"{name}.tar").write_bytes(tar_dir(tmp))
        meta = {
            "task": self.task,
            "success": bool(rep["success"]),
            "interventions": interventions,
            "energy_j": rec.energy_j,
            "package_id": info["id"],
        }
        (self.dir / "outbox" / f"{name}.json").write_text(json.dumps(meta))
        shutil.rmtree(tmp)
        self.state["episodes"] = n + 1
        self._save()
        return {"episode": n, "frames": len(rec.frames), **meta}

    def run(self, episodes: int, progress: Progress | None = None) -> dict:
        """sync -> episode -> flush, `episodes` times; works offline with the cached package."""
        progress = progress or NullProgress()
        progress.start(episodes, "field episodes")
        runs = []
        for _ in range(episodes):
            self.sync("running")
            runs.append(self.run_episode())
            self.flush()
            progress.advance(1, success=sum(r["success"] for r in runs) / len(runs))
        progress.close()
        self.sync("idle")
        fl = self.flush()
        return {
            "episodes": runs,
            "online": self.online,
            "events": self.events,
            "pending_episodes": len(list((self.dir / "outbox").glob("*.json"))),
            "pending_telemetry": _count_lines(self.spool),
            "last_flush": fl,
            "package": self.state["package"],
        }


def _count_lines(p: Path) -> int:
    return sum(1 for ln in p.read_text().splitlines() if ln.strip()) if p.exists() else 0


def _trust_dir() -> Path | None:
    import os

    from physai.deploy.signing import TRUST_ENV

    v = os.environ.get(TRUST_ENV)
    return Path(v) if v else None


def enroll(
    server: str,
    token: str,
    name: str,
    key_file: Path,
    embodiment: str = "",
    hardware: str = "",
    software_version: str = "",
) -> dict:
    """Exchange an enrollment token for a robot key and write it to `key_file` (mode 0600)."""
    import os

    c = FleetClient(server)
    try:
        r = c.post(
            "/enroll",
            {
                "token": token,
                "name": name,
                "embodiment": embodiment,
                "hardware": hardware,
                "software_version": software_version,
            },
        )
    finally:
        c.close()
    key_file = Path(key_file)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(r.pop("key") + "\n")
    return {**r, "key_file": str(key_file)}


__all__ = ["Agent", "AgentConfig", "FleetError", "enroll"]
