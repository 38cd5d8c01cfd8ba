"""The data flywheel: field episodes -> dataset -> retrain -> evaluation gate -> signed package -> canary.

Each step writes its result into `work_dir/flywheel.json` and a line into `work_dir/flywheel.log`
(JSONL); a rerun skips steps already done, so a turn interrupted anywhere resumes where it stopped.
The gate is `physai.evaluate.compare_results` on the same seeds: the candidate may not regress on any
task (a significant drop), else the turn stops before anything is deployed.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from physai.core.errors import ConfigError
from physai.core.progress import NullProgress, Progress
from physai.fleet.client import FleetClient

STEPS = ("select", "merge", "retrain", "evaluate", "export", "deploy")


@dataclass
class FlywheelConfig:
    """One flywheel turn."""

    fleet: str
    """Fleet service URL."""
    key: str
    """Admin or operator API key (admin needed to upload the package)."""
    base_dataset: Path
    """The dataset the current policy was trained on (LeRobot v3)."""
    policy: Path
    """Current policy run folder (runs/X) with checkpoint/ (the trainer state is resumed from it)."""
    sign_key: Path
    """Ed25519 private key the new package is signed with."""
    work_dir: Path = Path("runs/flywheel")
    """Turn folder: field/, merged/, train/, eval/, package/, flywheel.json, flywheel.log."""
    site_id: int = 1
    """Site the canary goes to."""
    group: str = "default"
    """Robot group the canary goes to."""
    task: str | None = None
    """Evaluation task (default: the task the current policy was trained on)."""
    max_field_episodes: int = 200
    """Most field episodes selected per turn."""
    only_failures: bool = True
    """Select only failed or intervened field episodes (False: every field episode, e.g. when the field
    runs an expert whose successes are new demonstrations)."""
    steps: int = 200
    """Extra optimizer steps on the merged data."""
    eval_episodes: int = 20
    """Evaluation episodes per policy (same seeds for both)."""
    eval_seed: int = 50_000
    """Base seed of the evaluation."""
    alpha: float = 0.05
    """Significance level of the regression gate."""
    canary_percent: int = 10
    """Canary percentage of the deployment."""
    version: str | None = None
    """Package version (default: a timestamp)."""
    workers: int = 0
    """Evaluation worker processes (0: in this process)."""
    intervention_weight: int = 0
    """DAgger: 0 merges field episodes as they are; k >= 1 takes from every episode that marks its steps
    (`control_source`, recorded by `physai run --intervene ... --record`) only the human segments, each
    written k times (`physai.teleop.segments`), and merges unmarked episodes as before."""
    interventions: tuple[Path, ...] = ()
    """Local intervention recordings (`physai run --record` datasets) merged with the field episodes
    (their human segments when `intervention_weight` >= 1, else whole)."""


def _features(root: Path) -> dict:
    info = json.loads((root / "meta" / "info.json").read_text())
    return {k: (v.get("dtype"), list(v.get("shape") or [])) for k, v in info["features"].items()}


def _check_features(sources: list[Path]) -> None:
    """Field episodes must carry the base dataset's features (same cameras and sizes) to be merged."""
    base = _features(sources[0])
    for s in sources[1:]:
        got = _features(s)
        if got != base:
            diff = sorted(k for k in base.keys() | got.keys() if base.get(k) != got.get(k))
            raise ConfigError(
                f"field episode {s} does not match the base dataset {sources[0]} in features {diff} "
                f"(base: {[base.get(k) for k in diff]}, field: {[got.get(k) for k in diff]}); record the "
                "field episodes with the base dataset's cameras and image size (agent --camera/--image-size)"
            )


def _ckpt(p: Path) -> Path:
    p = Path(p)
    return p / "checkpoint" if (p / "checkpoint").is_dir() else p


class Flywheel:
    def __init__(self, cfg: FlywheelConfig, client: FleetClient | None = None) -> None:
        self.cfg = cfg
        self.dir = Path(cfg.work_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.state_path = self.dir / "flywheel.json"
        self.state = json.loads(self.state_path.read_text()) if self.state_path.exists() else {"steps": {}}
        self.client = client or FleetClient(cfg.fleet, cfg.key, timeout=120)

    def log(self, step: str, **fields: object) -> None:
        with open(self.dir / "flywheel.log", "a") as f:
            f.write(json.dumps({"t": time.time(), "step": step, **fields}, default=str) + "\n")

    def _do(self, name: str, fn: Callable[[], dict]) -> dict:
        st = self.state["steps"].get(name)
        if st and st["status"] in ("done", "stopped"):
            self.log(name, event="skipped (already done)")
            return st
        self.log(name, event="start")
        res = fn()
        res.setdefault("status", "done")
        self.state["steps"][name] = res
        self.state_path.write_text(json.dumps(self.state, indent=2, default=str))
        self.log(name, event="end", **res)
        return res

    # ------------------------------------------------------------------ steps
    def select(self) -> dict:
        """Download failed episodes and episodes with safety interventions (or all: `only_failures`)."""
        eps = self.client.get(
            "/episodes",
            params={"only_failures": self.cfg.only_failures, "limit": self.cfg.max_field_episodes},
        )
        field_dir = self.dir / "field"
        got = []
        from physai.fleet.storage import safe_extract

        for e in eps:
            dest = field_dir / f"ep{e['id']}"
            if not dest.exists():
                safe_extract(self.client.download(f"/episodes/{e['id']}/archive"), dest, f"episode {e['id']}")
            got.append(
                {
                    "id": e["id"],
                    "success": e["success"],
                    "interventions": e["interventions"],
                    "path": str(dest),
                }
            )
        return {"episodes": got, "count": len(got)}

    def merge(self) -> dict:
        from physai.data.tools import merge

        sel = self.state["steps"]["select"]["episodes"]
        out = self.dir / "merged"
        shutil.rmtree(out, ignore_errors=True)
        field = [Path(e["path"]) for e in sel] + [Path(p) for p in self.cfg.interventions]
        segments = None
        if self.cfg.intervention_weight >= 1:
            from physai.teleop.segments import extract_interventions, has_interventions

            marked = [p for p in field if has_interventions(p)]
            field = [p for p in field if p not in marked]
            seg_dir = self.dir / "interventions"
            shutil.rmtree(seg_dir, ignore_errors=True)
            if marked:
                segments = extract_interventions(
                    marked, seg_dir, like=self.cfg.base_dataset, weight=self.cfg.intervention_weight
                )
                if segments["dataset"]:
                    field.append(seg_dir)
        sources = [Path(self.cfg.base_dataset), *field]
        _check_features(sources)
        rep = merge(sources, out)
        return {"dataset": str(out), "field_episodes": len(sel), "report": rep, "interventions": segments}

    def retrain(self) -> dict:
        from physai.policies import read_checkpoint_config
        from physai.train import TrainConfig, train

        src = Path(self.cfg.policy)
        run_src = src.parent if src.name == "checkpoint" else src
        out = self.dir / "train"
        if not (out / "checkpoint" / "trainer.json").exists():
            shutil.rmtree(out, ignore_errors=True)
            shutil.copytree(run_src, out, ignore=shutil.ignore_patterns("checkpoints", "eval*", "videos"))
        start = int(json.loads((out / "checkpoint" / "trainer.json").read_text())["step"])
        doc = read_checkpoint_config(out / "checkpoint")
        tcfg = TrainConfig(
            policy=doc["policy"],
            steps=start + self.cfg.steps,
            batch_size=32,
            warmup_steps=0,
            save_every=max(self.cfg.steps, 1),
            num_threads=1,
            device="cpu",
            lr=1e-4,
        )
        rep = train([self.dir / "merged"], out, tcfg, resume=True)
        return {
            "run": str(out),
            "from_step": start,
            "to_step": start + self.cfg.steps,
            "final_loss": rep.get("final_loss") if isinstance(rep, dict) else None,
        }

    def evaluate(self) -> dict:
        from physai.evaluate import EvalConfig, compare_results, run_eval
        from physai.policies import read_checkpoint_config

        specs = read_checkpoint_config(_ckpt(self.cfg.policy)).get("specs") or [{}]
        task = self.cfg.task or specs[0].get("env_task")
        if not task:
            raise ConfigError(f"{self.cfg.policy} does not record its training task; pass --task SUITE/TASK")
        runs = {}
        for name, pol in (
            ("current", _ckpt(self.cfg.policy)),
            ("candidate", self.dir / "train" / "checkpoint"),
        ):
            runs[name] = run_eval(
                EvalConfig(
                    policy=str(pol),
                    out=self.dir / "eval" / name,
                    tasks=task,
                    episodes=self.cfg.eval_episodes,
                    seed=self.cfg.eval_seed,
                    workers=self.cfg.workers,
                    report=False,
                )
            )
        cmp = compare_results(runs["current"], runs["candidate"], alpha=self.cfg.alpha)
        status = "stopped" if cmp["regressed"] else "done"
        return {
            "status": status,
            "task": task,
            "current": runs["current"]["suite_score"],
            "candidate": runs["candidate"]["suite_score"],
            "regressed": cmp["regressed"],
            "compare": cmp,
        }

    def export(self) -> dict:
        from physai.deploy.package import ExportConfig, export_checkpoint

        out = self.dir / "package"
        shutil.rmtree(out, ignore_errors=True)
        rep = export_checkpoint(
            self.dir / "train" / "checkpoint",
            out,
            sign_key=self.cfg.sign_key,
            config=ExportConfig(batched=False),
        )
        return {"package": str(out), "parity_max_abs_diff": rep["parity"]["max_abs_diff"]}

    def deploy(self) -> dict:
        name = Path(self.cfg.policy).resolve().name.replace("_", "-") or "policy"
        if name == "checkpoint":
            name = Path(self.cfg.policy).resolve().parent.name
        version = self.cfg.version or time.strftime("fw%Y%m%d%H%M%S")
        pk = self.client.upload_package(self.dir / "package", name, version)
        dep = self.client.post(
            "/deployments",
            {
                "package_id": pk["id"],
                "site_id": self.cfg.site_id,
                "group": self.cfg.group,
                "canary_percent": self.cfg.canary_percent,
            },
        )
        return {
            "package_id": pk["id"],
            "name": name,
            "version": version,
            "deployment_id": dep["id"],
            "state": dep["state"],
        }

    def run(self, progress: Progress | None = None) -> dict:
        progress = progress or NullProgress()
        progress.start(len(STEPS), "flywheel")
        result = "deployed as canary"
        for name in STEPS:
            res = self._do(name, getattr(self, name))
            progress.advance(1)
            if name == "select" and res["count"] == 0 and not self.cfg.interventions:
                result = "no field failures to learn from; nothing to do"
                break
            if res["status"] == "stopped":
                result = "candidate regressed on the evaluation gate; not deployed"
                break
        progress.close()
        steps = {
            k: {kk: vv for kk, vv in v.items() if kk != "compare"} for k, v in self.state["steps"].items()
        }
        return {"result": result, "steps": steps, "work_dir": str(self.dir)}


def run_flywheel(cfg: FlywheelConfig, progress: Progress | None = None) -> dict:
    """Run (or resume) one flywheel turn; see the module docstring."""
    if not Path(cfg.base_dataset).exists():
        raise ConfigError(f"--base-dataset {cfg.base_dataset} does not exist")
    if not (_ckpt(cfg.policy) / "config.json").exists():
        raise ConfigError(
            f"--policy {cfg.policy} holds no checkpoint (config.json); pass runs/X from physai train"
        )
    return Flywheel(cfg).run(progress)
