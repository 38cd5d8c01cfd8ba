"""On-disk storage of the fleet service: tar archives in and out, verified packages, LeRobot episodes.

Archives are plain tar files; extraction refuses links, absolute paths, `..` and oversize contents, so
an upload can never write outside its folder.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
from pathlib import Path

from physai.core.errors import DatasetError, PackageError

MAX_EXTRACT = 1 << 30


def tar_dir(root: Path) -> bytes:
    """A deterministic tar of every file under `root` (names relative to it)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for p in sorted(Path(root).rglob("*")):
            if p.is_file():
                info = tarfile.TarInfo(p.relative_to(root).as_posix())
                data = p.read_bytes()
                info.size, info.mode, info.mtime = len(data), 0o644, 0
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def safe_extract(data: bytes, dest: Path, what: str) -> None:
    """Extract a tar archive into the new folder `dest`, refusing anything but regular files and dirs."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=False)
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tf:
            for m in tf.getmembers():
                name = Path(m.name)
                if name.is_absolute() or ".." in name.parts or not (m.isfile() or m.isdir()):
                    raise PackageError(
                        f"{what}: archive member {m.name!r} is a link, absolute or leaves the "
                        f"folder; refusing the archive"
                    )
                total += m.size
                if total > MAX_EXTRACT:
                    raise PackageError(f"{what}: archive expands beyond {MAX_EXTRACT} bytes; refusing it")
                target = dest / name
                if m.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tf.extractfile(m)
                target.write_bytes(src.read() if src else b"")
    except (tarfile.TarError, EOFError) as exc:
        shutil.rmtree(dest, ignore_errors=True)
        raise PackageError(f"{what}: not a readable tar archive ({exc})") from None
    except PackageError:
        shutil.rmtree(dest, ignore_errors=True)
        raise


def store_package(data: bytes, root: Path, keys: list) -> dict:
    """Extract and verify a package archive (signature and every hash) into `root`; returns its facts.

    Unsigned or tampered packages are refused (PackageError) and nothing is kept.
    """
    from physai.deploy.package import load_package

    tmp = root.with_name(root.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    safe_extract(data, tmp, "package upload")
    try:
        pkg = load_package(tmp, keys)
    except Exception:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if root.exists():
        shutil.rmtree(root)
    tmp.rename(root)
    return {
        "sha256": hashlib.sha256(data).hexdigest(),
        "signed_by": pkg.signed_by,
        "embodiment": pkg.contract.embodiment,
    }


def store_episode(data: bytes, root: Path) -> dict:
    """Extract an uploaded one-episode LeRobot v3 dataset into `root` and check that it reads back."""
    from physai.data.meta import DatasetMeta

    safe_extract(data, root, "episode upload")
    try:
        meta = DatasetMeta(root)
        if len(meta.episodes) < 1:
            raise DatasetError(f"{root}: the uploaded dataset holds no episode")
    except Exception as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise DatasetError(f"episode upload is not a LeRobot v3 dataset: {exc}") from None
    videos = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.mp4"))
    frames = int(sum(int(e.get("length", 0)) for e in meta.episodes))
    return {"frames": frames, "video": videos[0] if videos else None}
