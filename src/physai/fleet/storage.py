"""On-disk storage of the fleet service: tar archives in and out, verified packages, LeRobot episodes.

Archives are plain tar files, read and written streaming (a block at a time, never the whole archive in
memory). Extraction accepts regular files and folders only and refuses, as a `PackageError` (4xx), every
malformed archive: links, devices and FIFOs, absolute paths, `..`, a name used twice or both as a file
and a folder, too many members, contents past the size limit, or an unreadable tar.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from physai.core.errors import DatasetError, PackageError, PhysaiError

MAX_EXTRACT = 1 << 30
"""Default limit of the bytes an archive may expand to."""
MAX_MEMBERS = 100_000
"""Most members one archive may hold."""
BLOCK = 1 << 20


class InsufficientStorage(PhysaiError):
    """The server's disk is full; what was being written has been removed (HTTP 507)."""


def sha256_file(path: Path) -> str:
    """sha256 of a file, read a block at a time."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(BLOCK):
            h.update(b)
    return h.hexdigest()


def _tar_info(p: Path, root: Path) -> tarfile.TarInfo:
    info = tarfile.TarInfo(p.relative_to(root).as_posix())
    info.size, info.mode, info.mtime = p.stat().st_size, 0o644, 0
    return info


def tar_stream(root: Path) -> Iterator[bytes]:
    """A deterministic tar of every file under `root` (names relative to it), yielded a block at a time;
    the same bytes as `tar_dir`."""
    root = Path(root)
    written = 0
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        info = _tar_info(p, root)
        head = info.tobuf(tarfile.PAX_FORMAT, tarfile.ENCODING, "surrogateescape")
        yield head
        left = info.size
        with open(p, "rb") as f:
            while left > 0:
                b = f.read(min(BLOCK, left))
                if not b:
                    raise DatasetError(f"{p} shrank while being archived")
                left -= len(b)
                yield b
        pad = -info.size % tarfile.BLOCKSIZE
        yield b"\0" * pad
        written += len(head) + info.size + pad
    end = 2 * tarfile.BLOCKSIZE
    yield b"\0" * (end + (-(written + end) % tarfile.RECORDSIZE))


def tar_dir(root: Path) -> bytes:
    """A deterministic tar of every file under `root` (names relative to it), in memory (small folders)."""
    return b"".join(tar_stream(root))


def _member_path(m: tarfile.TarInfo, what: str) -> str:
    """The member's normalized relative path ('' for the archive root); refuses unsafe names."""
    name = m.name.replace("\\", "/") if "\\" in m.name else m.name
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or "\0" in name:
        raise PackageError(f"{what}: archive member {m.name!r} is absolute or leaves the folder; refusing it")
    if not (m.isfile() or m.isdir()):
        kind = "a link" if (m.issym() or m.islnk()) else "a device, FIFO or other special file"
        raise PackageError(f"{what}: archive member {m.name!r} is {kind}; refusing the archive")
    return "/".join(x for x in p.parts if x not in ("", "."))


def safe_extract(  # noqa: C901  (too complex; split later, issue 19)
    src: bytes | Path | BinaryIO,
    dest: Path,
    what: str,
    limit: int = MAX_EXTRACT,
    max_members: int = MAX_MEMBERS,
) -> None:
    """Extract a tar archive (bytes, a file path or a binary file) into the new folder `dest`, streaming.

    Refuses anything but regular files and folders; any refusal or read error removes `dest` and raises
    `PackageError`; a full disk raises `InsufficientStorage`."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=False)
    kinds: dict[str, str] = {"": "d"}
    total = count = 0
    try:
        if isinstance(src, bytes | bytearray):
            fobj: BinaryIO = io.BytesIO(src)
        elif isinstance(src, str | Path):
            fobj = open(src, "rb")
        else:
            fobj = src
        try:
            with tarfile.open(fileobj=fobj, mode="r:*") as tf:
                for m in tf:
                    count += 1
                    if count > max_members:
                        raise PackageError(
                            f"{what}: archive has more than {max_members} members; refusing it"
                        )
                    rel = _member_path(m, what)
                    parts = rel.split("/") if rel else []
                    for i in range(1, len(parts)):
                        anc = "/".join(parts[:i])
                        if kinds.get(anc) == "f":
                            raise PackageError(
                                f"{what}: archive member {m.name!r} lies under {anc!r}, which is a file; "
                                f"refusing the archive"
                            )
                        kinds[anc] = "d"
                    kind = "d" if m.isdir() else "f"
                    have = kinds.get(rel)
                    if have is not None and (kind == "f" or have == "f"):
                        what_it_was = "a file" if have == "f" else "a folder"
                        raise PackageError(
                            f"{what}: archive member {m.name!r} repeats a name already {what_it_was}; "
                            f"refusing the archive"
                        )
                    kinds[rel] = kind
                    target = dest.joinpath(*parts) if parts else dest
                    if kind == "d":
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    total += m.size
                    if total > limit:
                        raise PackageError(f"{what}: archive expands beyond {limit} bytes; refusing it")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    fd = os.open(
                        target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644
                    )
                    data = tf.extractfile(m)
                    with os.fdopen(fd, "wb") as out:
                        if data is not None:
                            shutil.copyfileobj(data, out, BLOCK)
        finally:
            if fobj is not src:
                fobj.close()
    except PackageError:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    except OSError as exc:
        shutil.rmtree(dest, ignore_errors=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise InsufficientStorage(f"{what}: the server's disk is full ({exc.strerror})") from None
        raise PackageError(f"{what}: cannot extract the archive ({exc.__class__.__name__}: {exc})") from None
    except (tarfile.TarError, EOFError, ValueError, UnicodeError) as exc:
        shutil.rmtree(dest, ignore_errors=True)
        raise PackageError(f"{what}: not a readable tar archive ({exc})") from None


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


def store_episode(src: bytes | Path, root: Path, limit: int = MAX_EXTRACT) -> dict:
    """Extract an uploaded one-episode LeRobot v3 dataset (archive bytes or file) into `root`, streaming,
    and check that it reads back; on any refusal nothing is kept."""
    from physai.data.meta import DatasetMeta

    safe_extract(src, root, "episode upload", limit=limit)
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
