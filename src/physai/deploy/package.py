"""Model packages: export a policy to ONNX with a signed manifest, and load a package after verifying it.

Layout of a package folder:

```
model.onnx            batch-1 graph (fixed shapes), raw state [+ images] in, raw action chunk out
model_batched.onnx    optional: the same graph with a dynamic batch dimension (policy server)
policy.json           I/O spec, chunking, control rate, embodiment, normalization, exporter versions
MODEL_CARD.md         training data, evaluation results, intended use, limits
MANIFEST.json         sha256 and size of every file above
MANIFEST.sig          Ed25519 signature over MANIFEST.json
```

`load_package` is the one loader every consumer uses (runtime, server, profiler, fleet agent): it
verifies the signature and every hash before any model byte reaches ONNX Runtime, and hands ONNX
Runtime the very bytes it verified.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from physai.core.contract import PolicyContract
from physai.core.errors import ConfigError, PackageError
from physai.core.jsonsafe import json_default
from physai.core.progress import NullProgress, Progress
from physai.deploy import signing
from physai.deploy.onnx_io import MODEL, example_inputs
from physai.deploy.onnx_io import run_actions as _run
from physai.deploy.onnx_io import session as _session

POLICY_FORMAT = "physai-policy/2"
MODEL_BATCHED = "model_batched.onnx"
POLICY = "policy.json"
CARD = "MODEL_CARD.md"
PARITY_TOL = 1e-4


@dataclass
class ExportConfig:
    """Options of `export_package`."""

    batched: bool = True
    """Also export `model_batched.onnx` with a dynamic batch dimension (used by the policy server)."""
    max_batch: int = 64
    """Largest batch the batched variant is exported and checked for."""
    parity_samples: int = 32
    """Random inputs compared between torch and ONNX Runtime at export."""
    parity_tol: float = PARITY_TOL
    """Largest allowed max-abs difference between torch and ONNX Runtime actions (fp32)."""
    seed: int = 0
    """Seed of the parity inputs."""
    int8: bool = False
    """Quantize to INT8 (ONNX Runtime dynamic quantization) after the fp32 checks (`physai.deploy.int8`)."""
    int8_action_tol: float = 0.02
    """INT8 accepted only if mean |a_int8 - a_fp32| / (action range) stays at or below this."""
    int8_success_tol: float = 0.05
    """INT8 accepted only if closed-loop success stays within this of fp32 (when a task is given)."""
    int8_task: str | None = None
    """Task for the INT8 closed-loop check (None: action error only)."""
    int8_episodes: int = 50
    """Episodes per precision in the INT8 closed-loop check."""
    force: bool = False
    """Write the INT8 package even when it is outside tolerance (the numbers are kept in policy.json)."""
    model_card: dict[str, Any] = field(default_factory=dict)
    """Extra model-card fields: training_data, evaluation, intended_use, limits."""


# ---------------------------------------------------------------------------- export
def _onnx_bytes(module, ins: list[dict], batch: int, dynamic: bool, max_batch: int) -> bytes:
    import logging

    import torch

    # the exporter logs one warning per missing optional op library (torchvision); not actionable here
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)

    rng = np.random.default_rng(0)
    args = tuple(torch.from_numpy(a) for a in example_inputs(ins, batch, rng))
    names = [i["name"] for i in ins]
    kwargs: dict[str, Any] = {}
    if dynamic:
        b = torch.export.Dim("batch", min=1, max=max_batch)
        kwargs["dynamic_shapes"] = _batch_dynamic_shapes(module, len(ins), {0: b})
    with warnings.catch_warnings():
        # torch's own exporter trips its pytree deprecation warning (LeafSpec); not actionable here
        warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*axis name: batch will not be used.*")
        try:
            prog = torch.onnx.export(
                module,
                args,
                None,
                dynamo=True,
                input_names=names,
                output_names=["actions"],
                external_data=False,
                verbose=False,
                **kwargs,
            )
        except Exception as exc:  # the exporter raises many types; name the step that failed
            raise PackageError(
                f"ONNX export (dynamo) of the policy failed: {type(exc).__name__}: {exc}"
            ) from exc
    return prog.model_proto.SerializeToString()


def _batch_dynamic_shapes(module, n: int, dim: dict) -> tuple:
    """`dynamic_shapes` shaped like `module.forward`'s parameters for `n` positional inputs: torch.export
    binds trailing inputs to a `*args` parameter as one tuple, which takes one tuple of shapes."""
    import inspect

    params = list(inspect.signature(module.forward).parameters.values())
    fixed = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        k = min(len(fixed), n)
        rest = (tuple({**dim} for _ in range(n - k)),) if n > k else ()
        return (*({**dim} for _ in range(k)), *rest)
    return tuple({**dim} for _ in range(n))


def parity(module, model: bytes, ins: list[dict], samples: int, batch: int, seed: int) -> float:
    """Max abs difference between torch and ONNX Runtime outputs over `samples` random inputs."""
    import torch

    rng = np.random.default_rng(seed)
    sess = _session(model)
    worst = 0.0
    with torch.no_grad():
        for _ in range(max(1, samples // batch)):
            arrays = example_inputs(ins, batch, rng)
            ref = module(*(torch.from_numpy(a) for a in arrays)).numpy()
            got = _run(sess, ins, arrays)
            if got.shape != ref.shape:
                raise PackageError(f"ONNX output shape {got.shape} differs from torch {ref.shape}")
            worst = max(worst, float(np.max(np.abs(got - ref))))
    return worst


def export_package(
    module,
    contract: PolicyContract,
    out: Path,
    sign_key: Path | None = None,
    config: ExportConfig | None = None,
    progress: Progress | None = None,
) -> dict:
    """Export `module` (the inputs of `contract.model_inputs()` -> raw action chunk (B, H, A)) as a
    package in `out`; `policy.json` carries the contract unchanged.

    Runs the parity check (refuses when ONNX and torch differ by more than `config.parity_tol`), the
    optional INT8 acceptance check, writes the files and the manifest, and signs it with `sign_key`.
    Returns the export report (also stored in policy.json).
    """
    import onnx
    import onnxruntime
    import torch

    import physai

    cfg = config or ExportConfig()
    progress = progress or NullProgress()
    if not isinstance(contract, PolicyContract):
        raise ConfigError(f"export_package needs a PolicyContract, got {type(contract).__name__}")
    key = signing.load_private_key(sign_key) if sign_key is not None else None
    module = module.eval()
    ins = contract.model_inputs()
    steps = 3 + cfg.batched + cfg.int8
    progress.start(steps, "export")
    files: dict[str, bytes] = {MODEL: _onnx_bytes(module, ins, 1, False, 1)}
    progress.advance(1)
    diff = parity(module, files[MODEL], ins, cfg.parity_samples, 1, cfg.seed)
    out_shape = _session(files[MODEL]).get_outputs()[0].shape
    expect = [1, contract.chunk_size, contract.action_dim]
    if list(out_shape) != expect:
        raise PackageError(
            f"model output shape {out_shape} does not match the contract (1, chunk_size, action_dim) = "
            f"{expect}"
        )
    report: dict[str, Any] = {
        "parity": {"max_abs_diff": diff, "tolerance": cfg.parity_tol, "samples": cfg.parity_samples}
    }
    if not diff <= cfg.parity_tol:
        raise PackageError(
            f"ONNX parity check failed: max |onnx - torch| = {diff:.3g} > {cfg.parity_tol:g}; "
            f"the exported graph does not reproduce the policy"
        )
    progress.advance(1)
    models = {MODEL: {"batch": 1}}
    if cfg.batched:
        files[MODEL_BATCHED] = _onnx_bytes(module, ins, 2, True, cfg.max_batch)
        bdiff = parity(
            module, files[MODEL_BATCHED], ins, max(cfg.parity_samples, 8), min(8, cfg.max_batch), cfg.seed + 1
        )
        report["parity"]["batched_max_abs_diff"] = bdiff
        if not bdiff <= cfg.parity_tol:
            raise PackageError(
                f"ONNX parity check of {MODEL_BATCHED} failed: {bdiff:.3g} > {cfg.parity_tol:g}"
            )
        models[MODEL_BATCHED] = {"batch": "dynamic", "max_batch": cfg.max_batch}
        progress.advance(1)
    precision = "fp32"
    if cfg.int8:
        from physai.deploy.int8 import quantize_and_check

        q, q_report = quantize_and_check(files, contract, cfg)
        report["int8"] = q_report
        files.update(q)
        precision = "int8"
        progress.advance(1)
    policy = {
        "format": POLICY_FORMAT,
        "contract": contract.to_dict(),
        "inputs": ins,
        "output": {
            "name": "actions",
            "dtype": "float32",
            "shape": [contract.chunk_size, contract.action_dim],
            "names": list(contract.action_names),
        },
        "models": models,
        "precision": precision,
        "export": report,
        "exporter": {
            "physai": getattr(physai, "__version__", "0"),
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
            "dynamo": True,
            "opset": int(onnx.load_from_string(files[MODEL]).opset_import[0].version),
        },
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    files[POLICY] = (json.dumps(policy, indent=2, default=json_default) + "\n").encode()
    files[CARD] = model_card(policy, cfg.model_card).encode()
    write_package(out, files, key)
    progress.advance(1)
    progress.close()
    return {
        "path": str(out),
        "signed": key is not None,
        **report,
        "precision": precision,
        "files": sorted(files),
    }


def write_package(out: Path, files: dict[str, bytes], key=None) -> None:
    """Write `files`, the manifest and (with `key`) the signature into a fresh folder `out`."""
    out = Path(out)
    if out.exists():
        if not (out / signing.MANIFEST).exists() and any(out.iterdir()):
            raise ConfigError(f"{out} exists and is not a package; choose an empty or new --out folder")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name, data in files.items():
        (out / name).write_bytes(data)
    manifest = signing.build_manifest(files)
    (out / signing.MANIFEST).write_bytes(manifest)
    if key is not None:
        (out / signing.SIGNATURE).write_bytes(signing.sign_manifest(manifest, key))


def model_card(policy: dict, extra: dict[str, Any]) -> str:
    """MODEL_CARD.md text."""
    ev = extra.get("evaluation")
    ev_text = (
        json.dumps(ev, indent=2, default=str) if ev else "No evaluation results were attached at export."
    )
    par = policy["export"]["parity"]
    c = PolicyContract.from_dict(policy["contract"])
    ex = c.execution
    execution = (
        f"temporal ensembling (coefficient {ex.ensemble_coef:g})"
        if ex.mode == "ensemble"
        else f"{ex.horizon} executed per inference"
    )
    lines = [
        "# Model card",
        "",
        f"- Embodiment: `{c.embodiment}` (control mode: `{c.control}`)",
        f"- Control rate: {c.control_hz:g} Hz; action chunk {c.chunk_size} steps, {execution}",
        f"- Inputs: {', '.join(i['name'] + str(tuple(i['shape'])) for i in policy['inputs'])}",
        f"- Output: actions {tuple(policy['output']['shape'])}",
        f"- Precision: {policy['precision']}; ONNX vs torch max abs diff {par['max_abs_diff']:.3g} "
        f"(tolerance {par['tolerance']:g})",
        f"- Instruction: {c.instruction}" + (f" ({c.instruction_text!r})" if c.instruction_text else ""),
        f"- Simulation task: {c.env_task or 'not stated'}; instructions/tasks: "
        f"{', '.join(c.tasks) or 'not stated'}",
        "",
        "## Training data",
        "",
        str(extra.get("training_data", "Not stated by the exporter.")),
        "",
        "## Evaluation",
        "",
        "```",
        ev_text,
        "```",
        "",
        "## Intended use",
        "",
        str(
            extra.get(
                "intended_use",
                f"Closed-loop control of a `{c.embodiment}` robot on the tasks "
                "above, always behind the physai safety supervisor.",
            )
        ),
        "",
        "## Limits",
        "",
        str(
            extra.get(
                "limits",
                "Trained in simulation; behaviour outside the training distribution (other "
                "objects, lighting, dynamics) is unknown. Not a safety function: the supervisor and the "
                "robot's own safety system must stay enabled.",
            )
        ),
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- load
class Package:
    """A verified package: its policy spec and ONNX Runtime sessions built from the verified bytes."""

    def __init__(self, path: Path, files: dict[str, bytes], signed_by: str | None, threads: int = 1) -> None:
        self.path = Path(path)
        self.signed_by = signed_by
        self._files = files
        self._threads = threads
        self._sessions: dict[str, Any] = {}
        try:
            self.policy: dict = json.loads(files[POLICY])
        except (KeyError, ValueError) as exc:
            raise PackageError(f"{self.path}/{POLICY} is missing or not JSON: {exc}") from None
        if self.policy.get("format") != POLICY_FORMAT:
            raise PackageError(
                f"{self.path}/{POLICY} has format {self.policy.get('format')!r}, expected "
                f"{POLICY_FORMAT!r}; re-export with this physai version"
            )
        try:
            self.contract = PolicyContract.from_dict(self.policy.get("contract"), f"{self.path}/{POLICY}")
        except ConfigError as exc:
            raise PackageError(str(exc)) from None
        self.inputs: list[dict] = self.contract.model_inputs()
        if self.policy.get("inputs") != self.inputs:
            names = [i.get("name") for i in self.policy.get("inputs") or [] if isinstance(i, dict)]
            raise PackageError(
                f"{self.path}/{POLICY}: the model inputs {names} "
                f"do not follow its contract {[i['name'] for i in self.inputs]}; re-export the package"
            )

    @property
    def has_batched(self) -> bool:
        return MODEL_BATCHED in self._files

    def session(self, batched: bool = False):
        """ONNX Runtime session of the batch-1 model or of the batched variant."""
        name = MODEL_BATCHED if batched else MODEL
        if name not in self._files:
            raise PackageError(f"{self.path} has no {name}; re-export with batched=True")
        if name not in self._sessions:
            self._sessions[name] = _session(self._files[name], self._threads)
        return self._sessions[name]

    def model_arrays(self, obs: dict) -> list[np.ndarray]:
        """One observation (keyed by input name; `instruction` as text) -> unbatched model inputs."""
        try:
            return self.contract.model_arrays(obs)
        except ConfigError as exc:
            raise PackageError(f"package {self.path}: {exc}") from None

    def infer(self, obs: dict) -> np.ndarray:
        """One observation (unbatched arrays keyed by input name) -> action chunk (H, A) float32."""
        arrays = [a[None] for a in self.model_arrays(obs)]
        return _run(self.session(False), self.inputs, arrays)[0]

    def infer_batch(self, arrays: list[np.ndarray]) -> np.ndarray:
        """Batched inputs in `inputs` order, each (B, ...) -> (B, H, A); uses the batched model."""
        return _run(self.session(True), self.inputs, arrays)

    def describe(self) -> dict:
        """JSON-ready summary."""
        c = self.contract
        return {
            "path": str(self.path),
            "signed_by": self.signed_by,
            "embodiment": c.embodiment,
            "control": c.control,
            "control_hz": c.control_hz,
            "chunk_size": c.chunk_size,
            "execution": dataclasses.asdict(c.execution),
            "instruction": c.instruction,
            "precision": self.policy.get("precision"),
            "inputs": self.inputs,
            "output": self.policy["output"],
            "files": sorted(self._files),
            "parity": self.policy.get("export", {}).get("parity"),
        }


def load_package(
    path: Path, trusted_keys: list | None = None, allow_unsigned: bool = False, threads: int = 1
) -> Package:
    """Verify the package in `path` (signature, then every hash), then build it from the verified bytes.

    `trusted_keys`: Ed25519 public keys (see `signing.trusted_keys`). Unsigned packages load only with
    `allow_unsigned=True`; their hashes are still checked.
    """
    v = signing.verify_tree(Path(path), list(trusted_keys or []), allow_unsigned=allow_unsigned)
    if MODEL not in v.files:
        raise PackageError(f"{path}/{MODEL} is missing from the package")
    return Package(Path(path), v.files, v.signed_by, threads=threads)


def export_checkpoint(
    checkpoint: Path,
    out: Path,
    sign_key: Path | None = None,
    config: ExportConfig | None = None,
    progress: Progress | None = None,
) -> dict:
    """Export a `physai.policies` checkpoint (`runs/X/checkpoint` or the run folder) as a package."""
    from physai.policies import load_policy, read_checkpoint_config, resolve_checkpoint

    ckpt_dir = resolve_checkpoint(checkpoint)
    policy = load_policy(checkpoint)
    cfg = config or ExportConfig()
    extra = read_checkpoint_config(checkpoint).get("extra") or {}
    card = dict(cfg.model_card)
    card.setdefault("training_data", _training_data(ckpt_dir, extra))
    evals = _evaluations(ckpt_dir.parent / "metrics.jsonl")
    if evals:
        card.setdefault("evaluation", evals)
    cfg = dataclasses.replace(cfg, model_card=card)
    return export_package(policy.export_module(), policy.contract(), out, sign_key, cfg, progress)


def _training_data(ckpt_dir: Path, extra: dict) -> str:
    """Datasets and step from the trainer's files next to the checkpoint, when present."""
    try:
        doc = json.loads((ckpt_dir / "trainer.json").read_text())
        names = doc.get("datasets") or []
        return (
            f"datasets: {', '.join(map(str, names)) or 'not recorded'}; step {doc.get('step')}; "
            f"weights: {extra.get('weights', 'n/a')}"
        )
    except (OSError, ValueError):
        return str(extra.get("dataset") or f"not recorded in {ckpt_dir}")


def _evaluations(metrics: Path) -> list[dict]:
    """Closed-loop evaluation rows the trainer logged (`eval_success_rate`), oldest first."""
    rows = []
    try:
        for line in metrics.read_text().splitlines():
            row = json.loads(line)
            if "eval_success_rate" in row:
                rows.append(row)
    except (OSError, ValueError):
        return []
    return rows[-5:]
