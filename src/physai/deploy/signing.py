"""Ed25519 keys, package manifests and their signatures.

A package folder holds `MANIFEST.json` (sha256 and size of every other file) and `MANIFEST.sig` (an
Ed25519 signature over the exact bytes of `MANIFEST.json`). Verification checks the signature against
the trusted public keys first, then the folder against the manifest by `lstat` alone (unlisted files,
wrong sizes, anything that is not a regular file: refused by name, unread), then every file's hash
(read in blocks), so a changed byte anywhere is refused with the file named.

Trusted keys come from explicit public-key files and from the trust directory named by the
`PHYSAI_TRUSTED_KEYS` environment variable (every `*.pub` in it) — the same rule for every command.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from physai.core.errors import ConfigError, PackageError

MANIFEST = "MANIFEST.json"
SIGNATURE = "MANIFEST.sig"
MANIFEST_FORMAT = "physai-package/1"
TRUST_ENV = "PHYSAI_TRUSTED_KEYS"
PRIVATE_NAME = "physai.key"
PUBLIC_NAME = "physai.pub"


def key_id(public: Ed25519PublicKey) -> str:
    """Short fingerprint of a public key: the first 16 hex digits of sha256 of its raw bytes."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_keys(out: Path, overwrite: bool = False) -> tuple[Path, Path]:
    """Write a new key pair: `out/physai.key` (PKCS8 PEM, mode 0600) and `out/physai.pub` (PEM)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    priv_path, pub_path = out / PRIVATE_NAME, out / PUBLIC_NAME
    if not overwrite and (priv_path.exists() or pub_path.exists()):
        raise ConfigError(f"{priv_path} or {pub_path} already exists; choose another --out or delete them")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(priv_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.chmod(priv_path, 0o600)
    pub_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return priv_path, pub_path


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Read an Ed25519 private key (PEM); refuses keys readable by group or others."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"signing key {path} not found; create one with `physai keys generate --out DIR`")
    if os.name == "posix" and path.stat().st_mode & 0o077:
        raise ConfigError(
            f"signing key {path} is readable by other users (mode {oct(path.stat().st_mode & 0o777)});"
            f" run `chmod 600 {path}`"
        )
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError as exc:
        raise ConfigError(f"{path} is not a PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path} is not an Ed25519 key; physai signs with Ed25519 only")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Read an Ed25519 public key (PEM)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"public key {path} not found")
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except ValueError as exc:
        raise ConfigError(f"{path} is not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{path} is not an Ed25519 public key")
    return key


def trusted_keys(
    public_keys: list[Path] | Path | None = None, trust_dir: Path | None = None
) -> list[Ed25519PublicKey]:
    """Explicit public keys plus every `*.pub` in `trust_dir` (default: `$PHYSAI_TRUSTED_KEYS`)."""
    if isinstance(public_keys, (str, Path)):
        public_keys = [Path(public_keys)]
    keys = [load_public_key(p) for p in (public_keys or [])]
    d = trust_dir if trust_dir is not None else os.environ.get(TRUST_ENV)
    if d:
        d = Path(d)
        if not d.is_dir():
            raise ConfigError(f"trust directory {d} (from {TRUST_ENV} or --trust-dir) does not exist")
        keys += [load_public_key(p) for p in sorted(d.glob("*.pub"))]
    return keys


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_manifest(files: dict[str, bytes]) -> bytes:
    """Canonical manifest bytes for `files` (relative name -> content)."""
    doc = {
        "format": MANIFEST_FORMAT,
        "files": {name: {"sha256": sha256(data), "size": len(data)} for name, data in sorted(files.items())},
    }
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def sign_manifest(manifest: bytes, key: Ed25519PrivateKey) -> bytes:
    """Signature file content for `manifest`."""
    doc = {
        "algorithm": "ed25519",
        "key_id": key_id(key.public_key()),
        "signature": base64.b64encode(key.sign(manifest)).decode(),
    }
    return (json.dumps(doc, indent=2) + "\n").encode()


@dataclass(frozen=True)
class Verified:
    """Result of verifying a package folder: the verified bytes of every file, and who signed it."""

    files: dict[str, bytes]
    """Relative file name -> content, every hash checked (manifest and signature excluded)."""
    signed_by: str | None
    """Key id of the trusted key whose signature verified; None for an allowed unsigned package."""


BLOCK = 1 << 20
"""Files are read and hashed in blocks of this many bytes."""
MAX_MANIFEST_BYTES = 16 << 20
"""Largest MANIFEST.json / MANIFEST.sig read (before the signature is checked, nothing else is read)."""


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISLNK, "symbolic link"),
        (stat.S_ISDIR, "directory"),
        (stat.S_ISFIFO, "FIFO (named pipe)"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    ):
        if test(mode):
            return name
    return "special file"


def scan_tree(root: Path) -> tuple[dict[str, int], set[str]]:
    """({relative POSIX name: size} of every regular file, {directories}) under `root`, from `lstat`
    alone: nothing is opened and no link is followed. Anything that is neither a regular file nor a
    directory (symlink, FIFO, socket, device) is refused by name."""
    root = Path(root)
    try:
        st = os.lstat(root)
    except FileNotFoundError:
        raise PackageError(f"package folder {root} does not exist") from None
    if not stat.S_ISDIR(st.st_mode):
        raise PackageError(f"package folder {root} is a {_kind(st.st_mode)}, not a folder")
    files: dict[str, int] = {}
    dirs: set[str] = set()
    stack = [("", root)]
    while stack:
        prefix, d = stack.pop()
        with os.scandir(d) as it:
            for e in it:
                rel = prefix + e.name
                st = e.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    dirs.add(rel)
                    stack.append((rel + "/", Path(e.path)))
                elif stat.S_ISREG(st.st_mode):
                    files[rel] = st.st_size
                else:
                    raise PackageError(
                        f"{root}/{rel} is a {_kind(st.st_mode)}; packages hold regular files only — remove it"
                    )
    return files, dirs


def read_file(path: Path, size: int) -> tuple[bytes, str]:
    """(content, sha256 hex) of the regular file `path`, which must be exactly `size` bytes; read in
    `BLOCK`-sized pieces without following a link or blocking on a FIFO swapped in since the scan."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise PackageError(f"{path} cannot be opened as a regular file ({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise PackageError(f"{path} is a {_kind(st.st_mode)}; packages hold regular files only")
        if st.st_size != size:
            raise PackageError(f"{path} is {st.st_size} bytes, expected {size}; it changed while being read")
        h, buf = hashlib.sha256(), bytearray()
        while True:
            block = os.read(fd, min(BLOCK, size + 1 - len(buf)))
            if not block:
                break
            h.update(block)
            buf += block
            if len(buf) > size:
                raise PackageError(f"{path} grew past {size} bytes while being read; refusing it")
    finally:
        os.close(fd)
    if len(buf) != size:
        raise PackageError(f"{path} shrank to {len(buf)} bytes while being read; refusing it")
    return bytes(buf), h.hexdigest()


def read_tree(root: Path) -> dict[str, bytes]:
    """Every regular file under `root` (relative POSIX names -> bytes); refuses symlinks, FIFOs,
    sockets and devices."""
    files, _ = scan_tree(root)
    return {name: read_file(Path(root) / name, size)[0] for name, size in sorted(files.items())}


def _listed(root: Path, manifest: bytes) -> dict[str, tuple[str, int]]:
    try:
        doc = json.loads(manifest)
        if doc.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"format {doc.get('format')!r}, expected {MANIFEST_FORMAT!r}")
        listed = {}
        for name, e in doc["files"].items():
            bad = name.startswith("/") or any(p in ("", ".", "..") for p in name.split("/"))
            if bad or name in (MANIFEST, SIGNATURE):
                raise ValueError(f"file name {name!r} is not a plain relative path")
            if not isinstance(e["sha256"], str) or type(e["size"]) is not int or e["size"] < 0:
                raise ValueError(f"entry of {name!r} needs a sha256 string and a size >= 0")
            listed[name] = (e["sha256"], e["size"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PackageError(f"{root}/{MANIFEST} is malformed: {exc}") from None
    return listed


def verify_tree(root: Path, keys: list[Ed25519PublicKey], allow_unsigned: bool = False) -> Verified:  # noqa: C901  (too complex; split later, issue 19)
    """Check the signature, then the folder's structure and every file's size, then every hash, of the
    package in `root`; return the verified file contents.

    Nothing but MANIFEST.json and MANIFEST.sig is read before the signature verifies, and no byte of a
    file is read before every file has been matched (name, type, size by `lstat`) against the manifest:
    an unlisted or oversized file, a FIFO, a symlink or a directory where a file is listed is refused by
    name without being read. Files are hashed in blocks. The bytes returned are the bytes that were
    hashed, so callers deserialize exactly what was verified.
    """
    root = Path(root)
    files, dirs = scan_tree(root)
    meta: dict[str, bytes | None] = {}
    for name in (MANIFEST, SIGNATURE):
        if name in dirs:
            raise PackageError(f"{root}/{name} is a directory; it must be a regular file")
        size = files.pop(name, None)
        if size is not None and size > MAX_MANIFEST_BYTES:
            raise PackageError(f"{root}/{name} is {size} bytes (limit {MAX_MANIFEST_BYTES}); refusing it")
        meta[name] = None if size is None else read_file(root / name, size)[0]
    manifest, sig = meta[MANIFEST], meta[SIGNATURE]
    if manifest is None:
        raise PackageError(f"{root}/{MANIFEST} is missing; re-export the package with `physai export`")
    signed_by = None
    if sig is None:
        if not allow_unsigned:
            raise PackageError(
                f"{root} is unsigned ({SIGNATURE} missing); sign it at export with --sign-key, "
                f"or pass --allow-unsigned to load it anyway"
            )
    else:
        signed_by = _check_signature(root, manifest, sig, keys)
    listed = _listed(root, manifest)
    # structure and sizes, from lstat alone, before any byte of a file is read
    for name, size in sorted(files.items()):
        if name not in listed:
            raise PackageError(
                f"{root}/{name} ({size} bytes) is not listed in {MANIFEST}; remove it (packages are "
                "immutable)"
            )
    missing = []
    for name, (_, size) in sorted(listed.items()):
        if name in dirs:
            raise PackageError(f"{root}/{name} is a directory; {MANIFEST} lists it as a file of {size} bytes")
        if name not in files:
            missing.append(name)
        elif files[name] != size:
            raise PackageError(
                f"{root}/{name} is {files[name]} bytes, {MANIFEST} lists {size}: the file was changed "
                "after export; refusing to load"
            )
    if missing:
        raise PackageError(f"{root}: files listed in {MANIFEST} are missing: {', '.join(missing)}")
    out: dict[str, bytes] = {}
    for name, (digest, size) in sorted(listed.items()):
        data, got = read_file(root / name, size)
        if got != digest:
            raise PackageError(
                f"{root}/{name} does not match its sha256 in {MANIFEST}: the file was changed "
                f"after export; refusing to load"
            )
        out[name] = data
    return Verified(files=out, signed_by=signed_by)


def _check_signature(root: Path, manifest: bytes, sig: bytes, keys: list[Ed25519PublicKey]) -> str:
    try:
        doc = json.loads(sig)
        raw = base64.b64decode(doc["signature"], validate=True)
        if doc.get("algorithm") != "ed25519":
            raise ValueError(f"algorithm {doc.get('algorithm')!r}")
    except (ValueError, KeyError, TypeError) as exc:
        raise PackageError(
            f"{root}/{SIGNATURE} is malformed ({exc}); the package was changed after export"
        ) from None
    if not keys:
        raise PackageError(
            f"{root} is signed (key id {doc.get('key_id')}) but no trusted public key was given; "
            f"pass --public-key KEY.pub or put it in ${TRUST_ENV}"
        )
    for k in keys:
        try:
            k.verify(raw, manifest)
            return key_id(k)
        except InvalidSignature:
            continue
    raise PackageError(
        f"{root}/{MANIFEST} / {SIGNATURE}: the signature does not verify with any trusted key "
        f"(signed as key id {doc.get('key_id')}); the manifest or signature was changed, or the "
        f"signer is not trusted"
    )
