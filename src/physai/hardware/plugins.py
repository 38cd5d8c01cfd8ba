"""The device-plugin interface, discovery through the `physai.devices` entry-point group, and the
compiled-artifact cache keyed by (package hash, device, precision, shapes), whose entries are
authenticated and bound to the verified package they were built from.

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
import hmac
import json
import os
import secrets
import shutil
import stat
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from physai.core.errors import ConfigError, PackageError
from physai.hardware.energy import EnergyMeter, default_meter

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

    def read(self, name: str) -> bytes:
        """The bytes of artifact file `name`, checked against the sha256 the cache verified (so a file
        swapped after the check is refused, never loaded). Plugins load artifacts through this."""
        want = (self.meta.get("files") or {}).get(name)
        if want is None:
            raise PackageError(f"{self.path}/{name} is not a file of artifact {self.key}")
        data = (self.path / name).read_bytes()
        if hashlib.sha256(data).hexdigest() != want:
            raise PackageError(
                f"{self.path}/{name} changed after the artifact cache verified it; refusing to load it "
                f"(delete {self.path} to rebuild)"
            )
        return data


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


def default_cache_key_path() -> Path:
    """`$XDG_CONFIG_HOME/physai/artifact-cache.key` (default `~/.config/...`): the secret that
    authenticates cache entries, kept outside every cache folder."""
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "physai" / "artifact-cache.key"


def _cache_secret(path: Path) -> bytes:
    """The 32-byte cache secret at `path`, created (mode 0600) on first use."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise ConfigError(f"artifact cache key {path} cannot be read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"artifact cache key {path} is not a regular file; delete it")
        if os.name == "posix" and st.st_mode & 0o077:
            raise ConfigError(
                f"artifact cache key {path} is readable by other users (mode {oct(st.st_mode & 0o777)}); "
                f"run `chmod 600 {path}`"
            )
        key = f.read(64)
    if len(key) < 32:
        raise ConfigError(f"artifact cache key {path} is truncated; delete it (the cache is then rebuilt)")
    return key


class ArtifactCache:
    """Folder of compiled artifacts: `<root>/<key>/` with the files and `artifact.json`.

    `artifact.json` records the cache key, the hash of the verified package the artifact was built from
    (`package_hash`) and the sha256 of each file, authenticated with an HMAC under a secret kept outside
    the cache (`key_path`, default `default_cache_key_path()`). A cached artifact is used only when its
    record authenticates, names this package's hash and key, and every file hashes as recorded; anything
    else — a model planted in the cache with a matching hash list, an entry from another package, a
    damaged file — is dropped and rebuilt from the verified package, never loaded.
    """

    def __init__(self, root: Path, key_path: Path | None = None) -> None:
        self.root = Path(root)
        self.key_path = Path(key_path) if key_path is not None else default_cache_key_path()
        self._secret: bytes | None = None

    def _mac(self, doc: dict) -> str:
        if self._secret is None:
            self._secret = _cache_secret(self.key_path)
        body = json.dumps(
            {"key": doc.get("key"), "package": doc.get("package"), "files": doc.get("files")}, sort_keys=True
        )
        return hmac.new(self._secret, body.encode(), hashlib.sha256).hexdigest()

    def get(self, key: str, package: str | None = None) -> Path | None:
        """The artifact folder when present, authentic, built from package hash `package` (when given)
        and intact; else None, dropping whatever is there."""
        d = self.root / key
        rec = self.record(key, package)
        if rec is None:
            if os.path.lexists(d):
                _remove(d)
            return None
        return d

    def record(self, key: str, package: str | None = None) -> dict | None:
        """The verified `artifact.json` of entry `key` (see `get`), or None."""
        d = self.root / key
        meta = d / "artifact.json"
        try:
            if d.is_symlink() or not d.is_dir() or meta.is_symlink():
                return None
            doc = json.loads(meta.read_text())
            ok = (
                isinstance(doc, dict)
                and doc.get("key") == key
                and (package is None or doc.get("package") == package)
                and hmac.compare_digest(str(doc.get("mac", "")), self._mac(doc))
                and isinstance(doc.get("files"), dict)
                and all(_file_sha256(d, n) == h for n, h in doc["files"].items())
            )
        except (OSError, ValueError, KeyError, TypeError):
            ok = False
        return doc if ok else None

    def put(self, key: str, files: dict[str, bytes], meta: dict, package: str | None = None) -> Path:
        """Store artifact files atomically (write to a temp folder, then rename), recording the package
        hash they were built from and authenticating the record."""
        d = self.root / key
        tmp = self.root / f".{key}.tmp"
        _remove(tmp)
        tmp.mkdir(parents=True)
        for n, data in files.items():
            (tmp / n).write_bytes(data)
        doc = {**meta, "key": key, "package": package}
        doc["files"] = {n: hashlib.sha256(b).hexdigest() for n, b in files.items()}
        doc["mac"] = self._mac(doc)
        (tmp / "artifact.json").write_text(json.dumps(doc, indent=2, default=str))
        _remove(d)
        tmp.rename(d)
        return d

    def compile_cached(
        self, device: str, package: Any, spec: CompileSpec, build, extra: dict | None = None
    ) -> Artifact:
        """Look up (package hash, device, precision, shapes); on a miss call `build() -> {name: bytes}`."""
        shapes = input_shapes(package, spec.batch)
        pkg_hash = package_hash(package)
        key = cache_key(pkg_hash, device, spec.precision, shapes, extra)
        rec = self.record(key, pkg_hash)
        hit = rec is not None
        if rec is None:
            d = self.put(key, build(), {"device": device, "spec": asdict(spec), "shapes": shapes}, pkg_hash)
            rec = self.record(key, pkg_hash)
            if rec is None:
                raise PackageError(
                    f"artifact {d} did not verify right after it was written; check {self.root}"
                )
        return Artifact(
            device,
            key,
            self.root / key,
            spec,
            {"cache_hit": hit, "shapes": shapes, "package": pkg_hash, "files": rec["files"]},
        )


def _file_sha256(d: Path, name: str) -> str:
    p = d / name
    if "/" in name or name.startswith(".") or p.is_symlink() or not p.is_file():
        return ""
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _remove(p: Path) -> None:
    if p.is_symlink() or p.is_file():
        p.unlink()
    elif p.exists():
        shutil.rmtree(p)


def parse_device(text: str) -> tuple[str, str | None]:
    """'ort:cpu' -> ('ort:cpu', None); 'ort:cpu@int8' -> ('ort:cpu', 'int8')."""
    dev, _, prec = text.strip().partition("@")
    if prec and prec not in PRECISIONS:
        raise ConfigError(f"device {text!r}: precision {prec!r} is not one of {PRECISIONS}")
    return dev, prec or None
