"""Ed25519 keys, package manifests and their signatures.

A package folder holds `MANIFEST.json` (sha256 and size of every other file) and `MANIFEST.sig` (an
Ed25519 signature over the exact bytes of `MANIFEST.json`). Verification checks the signature against
the trusted public keys first, then every file's hash, and refuses files the manifest does not list,
so a changed byte anywhere is refused with the file named.

Trusted keys come from explicit public-key files and from the trust directory named by the
`PHYSAI_TRUSTED_KEYS` environment variable (every `*.pub` in it) — the same rule for every command.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
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


def read_tree(root: Path) -> dict[str, bytes]:
    """Every regular file under `root` (relative POSIX names -> bytes); refuses symlinks."""
    root = Path(root)
    if not root.is_dir():
        raise PackageError(f"package folder {root} does not exist")
    out: dict[str, bytes] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            raise PackageError(f"{root}/{rel} is a symbolic link; packages hold regular files only")
        if p.is_file():
            out[rel] = p.read_bytes()
    return out


def verify_tree(root: Path, keys: list[Ed25519PublicKey], allow_unsigned: bool = False) -> Verified:
    """Check signature, then hashes, of the package in `root`; return the verified file contents.

    The bytes returned are the bytes that were hashed, so callers deserialize exactly what was verified.
    """
    files = read_tree(root)
    manifest = files.pop(MANIFEST, None)
    sig = files.pop(SIGNATURE, None)
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
    try:
        doc = json.loads(manifest)
        listed = doc["files"]
        if doc.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"format {doc.get('format')!r}, expected {MANIFEST_FORMAT!r}")
    except (ValueError, KeyError, TypeError) as exc:
        raise PackageError(f"{root}/{MANIFEST} is malformed: {exc}") from None
    for name, data in files.items():
        if name not in listed:
            raise PackageError(
                f"{root}/{name} is not listed in {MANIFEST}; remove it (packages are immutable)"
            )
        if sha256(data) != listed[name].get("sha256") or len(data) != listed[name].get("size"):
            raise PackageError(
                f"{root}/{name} does not match its sha256 in {MANIFEST}: the file was changed "
                f"after export; refusing to load"
            )
    missing = sorted(set(listed) - set(files))
    if missing:
        raise PackageError(f"{root}: files listed in {MANIFEST} are missing: {', '.join(missing)}")
    return Verified(files=files, signed_by=signed_by)


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
