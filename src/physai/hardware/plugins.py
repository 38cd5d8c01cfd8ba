"""The device-plugin interface, discovery through the `physai.devices` entry-point group, and the
compiled-artifact cache keyed by (package hash, device, precision, shapes).

A plugin turns a verified package (`physai.deploy.package.Package`) into an artifact for one device
(`compile`) and an artifact into a `Session` that runs inferences (`load`). Vendors ship plugins as their
own Python packages:

```toml
[project.entry-points."physai.devices"]
mynpu = "mynpu_physai:plugins"      # a DevicePlugin subclass, an instance, or a callable returning a list
```
"""

from __future__ import annotations

import hashlib
import json
import shutil
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from physai.core.errors import ConfigError, PackageError, UnknownNameError
from physai.hardware.energy import EnergyMeter, default_meter

ENTRY_POINT_GROUP = "physai.devices"
PRECISIONS = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class CompileSpec:
    """What to compile a package for."""

    precision: str = "fp32"
    """'fp32', 'fp16' or 'int8' (plugins list what they support in `capabilities()`)."""
    batch: int = 1
    """Batch size of the artifact (1: the package's fixed-shape model; >1: its batched variant)."""
    threads: int = 1
    """Intra-op threads for CPU runtimes."""


@dataclass(frozen=True)
class Probe:
    """Whether a device can be used here, and why not."""

    available: bool
    """True when the runtime and the device are both present."""
    version: str | None = None
    """Runtime version string (e.g. 'onnxruntime 1.22.0')."""
    reason: str | None = None
    """Why it is unavailable, with what to install."""
    details: dict = field(default_factory=dict)
    """Device name, driver version, providers..."""


@dataclass
class Artifact:
    """A package compiled for one device: files in a cache folder plus metadata."""

    device: str
    """Device id, e.g. 'ort:cpu'."""
    key: str
    """Cache key (hex)."""
    path: Path
    """Folder holding the artifact files."""
    spec: CompileSpec
    """What it was compiled for."""
    meta: dict = field(default_factory=dict)
    """Plugin-specific facts (files, sha256, compile seconds, whether it came from the cache)."""


class Session(Protocol):
    """A loaded artifact."""

    def run(self, inputs: list[np.ndarray]) -> np.ndarray:
        """Inputs in the package's input order, each (B, ...) -> actions (B, H, A) float32."""

    def warmup(self, inputs: list[np.ndarray], n: int = 10) -> None:
        """Run `n` times to settle allocators, caches and clocks."""


class DevicePlugin(ABC):
    """One device (runtime + execution target). Subclasses set `name` and `kind`."""

    name: str = ""
    """Device id 'runtime:target', e.g. 'ort:cpu'."""
    kind: str = "cpu"
    """'cpu', 'cuda' or an accelerator family; picks the default energy meter."""

    @abstractmethod
    def probe(self) -> Probe:
        """Check runtime and hardware without loading any model."""

    def capabilities(self) -> dict:
        """Precisions, batching, memory — what `compile` accepts."""
        return {"precisions": ["fp32"], "batching": True}

    @abstractmethod
    def compile(self, package: Any, spec: CompileSpec, cache: ArtifactCache) -> Artifact:
        """Turn a verified package into an artifact (use `cache` so repeated runs skip the work)."""

    @abstractmethod
    def load(self, artifact: Artifact) -> Session:
        """Load an artifact for inference."""

    def energy_meter(self) -> tuple[EnergyMeter, list[str]]:
        """The best energy meter for this device and why better ones were unreadable."""
        return default_meter(self.kind)

    def memory_bytes(self) -> int | None:
        """Peak device memory (accelerators), or None for host-memory devices."""
        return None


# ---------------------------------------------------------------------------- package helpers
def package_files(package: Any) -> dict[str, bytes]:
    """The verified bytes of a `physai.deploy.package.Package`."""
    files = getattr(package, "_files", None) or getattr(package, "files", None)
    if not isinstance(files, dict):
        raise PackageError(
            f"{package!r} is not a loaded physai package; use physai.deploy.package.load_package"
        )
    return files


def package_hash(package: Any) -> str:
    """Content hash of every verified file (name and bytes), independent of where the package lies."""
    h = hashlib.sha256()
    for name, data in sorted(package_files(package).items()):
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


def input_shapes(package: Any, batch: int) -> list[list[int]]:
    return [[batch, *i["shape"]] for i in package.inputs]


def model_bytes(package: Any, batch: int) -> bytes:
    """The fixed batch-1 model, or the batched variant for batch > 1."""
    from physai.deploy.package import MODEL, MODEL_BATCHED

    files = package_files(package)
    name = MODEL if batch == 1 else MODEL_BATCHED
    if name not in files:
        raise PackageError(
            f"{package.path} has no {name}: batch {batch} needs the batched variant; re-export "
            f"without --no-batched"
        )
    return files[name]


# ---------------------------------------------------------------------------- cache
def cache_key(
    pkg_hash: str, device: str, precision: str, shapes: list[list[int]], extra: dict | None = None
) -> str:
    """Stable key of a compiled artifact."""
    doc = {"package": pkg_hash, "device": device, "precision": precision, "shapes": shapes, **(extra or {})}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32]


class ArtifactCache:
    """Folder of compiled artifacts: `<root>/<key>/` with the files and `artifact.json` (sha256 of each)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def get(self, key: str) -> Path | None:
        """The artifact folder when present and intact (hashes match); else None, dropping a damaged one."""
        d = self.root / key
        meta = d / "artifact.json"
        if not meta.exists():
            return None
        try:
            doc = json.loads(meta.read_text())
            ok = all(hashlib.sha256((d / n).read_bytes()).hexdigest() == h for n, h in doc["files"].items())
        except (OSError, ValueError, KeyError):
            ok = False
        if not ok:
            shutil.rmtree(d, ignore_errors=True)
            return None
        return d

    def put(self, key: str, files: dict[str, bytes], meta: dict) -> Path:
        """Store artifact files atomically (write to a temp folder, then rename)."""
        d = self.root / key
        tmp = self.root / f".{key}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for n, data in files.items():
            (tmp / n).write_bytes(data)
        doc = {**meta, "files": {n: hashlib.sha256(b).hexdigest() for n, b in files.items()}}
        (tmp / "artifact.json").write_text(json.dumps(doc, indent=2, default=str))
        shutil.rmtree(d, ignore_errors=True)
        tmp.rename(d)
        return d

    def compile_cached(
        self, device: str, package: Any, spec: CompileSpec, build, extra: dict | None = None
    ) -> Artifact:
        """Look up (package hash, device, precision, shapes); on a miss call `build() -> {name: bytes}`."""
        shapes = input_shapes(package, spec.batch)
        key = cache_key(package_hash(package), device, spec.precision, shapes, extra)
        d = self.get(key)
        hit = d is not None
        if d is None:
            d = self.put(key, build(), {"device": device, "spec": asdict(spec), "shapes": shapes})
        return Artifact(device, key, d, spec, {"cache_hit": hit, "shapes": shapes})


# ---------------------------------------------------------------------------- discovery
def _as_plugins(obj: Any, origin: str) -> list[DevicePlugin]:
    if isinstance(obj, DevicePlugin):
        return [obj]
    if isinstance(obj, type) and issubclass(obj, DevicePlugin):
        return [obj()]
    if callable(obj):
        got = obj()
        items = got if isinstance(got, list | tuple) else [got]
        return [p for it in items for p in _as_plugins(it, origin)]
    raise ConfigError(
        f"entry point {origin} gave {type(obj).__name__}; expected a DevicePlugin, a subclass, or "
        f"a callable returning plugins"
    )


def discover() -> tuple[dict[str, DevicePlugin], dict[str, str]]:
    """Built-in plugins plus those of the `physai.devices` entry-point group.

    Returns (plugins by device id, {entry point: error}) — a broken third-party plugin is reported, never
    fatal.
    """
    from physai.hardware.builtin import builtin_plugins

    plugins = {p.name: p for p in builtin_plugins()}
    errors: dict[str, str] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        origin = f"{ep.name} = {ep.value}"
        try:
            for p in _as_plugins(ep.load(), origin):
                plugins[p.name] = p
        except Exception as exc:  # third-party code: report, keep the others
            errors[origin] = f"{type(exc).__name__}: {exc}"
    return plugins, errors


def get_plugin(device: str, plugins: dict[str, DevicePlugin] | None = None) -> DevicePlugin:
    """The plugin for a device id; unknown ids name the known ones."""
    plugins = plugins if plugins is not None else discover()[0]
    if device not in plugins:
        raise UnknownNameError("device", device, list(plugins))
    return plugins[device]


def parse_device(text: str) -> tuple[str, str | None]:
    """'ort:cpu' -> ('ort:cpu', None); 'ort:cpu@int8' -> ('ort:cpu', 'int8')."""
    dev, _, prec = text.strip().partition("@")
    if prec and prec not in PRECISIONS:
        raise ConfigError(f"device {text!r}: precision {prec!r} is not one of {PRECISIONS}")
    return dev, prec or None


def list_devices(plugins: dict[str, DevicePlugin] | None = None) -> dict:
    """JSON-ready listing: every device with probe result and capabilities, plus plugin load errors."""
    errors: dict[str, str] = {}
    if plugins is None:
        plugins, errors = discover()
    rows = []
    for name, p in sorted(plugins.items()):
        try:
            pr = p.probe()
        except Exception as exc:  # a probe must not take the listing down
            pr = Probe(False, reason=f"probe raised {type(exc).__name__}: {exc}")
        rows.append(
            {
                "device": name,
                "available": pr.available,
                "version": pr.version,
                "reason": pr.reason,
                "details": pr.details,
                "capabilities": p.capabilities() if pr.available else None,
                "plugin": f"{type(p).__module__}.{type(p).__qualname__}",
            }
        )
    return {"devices": rows, "plugin_errors": errors}
