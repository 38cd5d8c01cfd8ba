"""Export parity, package loading, and signature/manifest tamper refusals (every file)."""

from __future__ import annotations

import os
import shutil
import stat

import numpy as np
import pytest
import torch

from conftest import TinyPolicy, tiny_spec
from physai.core.errors import ConfigError, PackageError
from physai.deploy import signing
from physai.deploy.package import ExportConfig, export_package, load_package


def test_export_parity_and_load(tiny_package, keys):
    path, report = tiny_package
    assert report["parity"]["max_abs_diff"] <= 1e-4
    assert report["parity"]["batched_max_abs_diff"] <= 1e-4
    assert {"model.onnx", "model_batched.onnx", "policy.json", "MODEL_CARD.md"} <= set(report["files"])
    pkg = load_package(path, signing.trusted_keys(keys[1]))
    assert pkg.signed_by == signing.key_id(signing.load_public_key(keys[1]))
    state = np.random.default_rng(1).normal(size=(5, 12)).astype(np.float32)
    ref = TinyPolicy()(torch.from_numpy(state)).detach().numpy()
    np.testing.assert_allclose(pkg.infer({"state": state[0]}), ref[0], atol=1e-4)
    np.testing.assert_allclose(pkg.infer_batch([state]), ref, atol=1e-4)
    c = pkg.contract
    assert (c.chunk_size, c.action_dim, c.execution.horizon) == (4, 3, 2)


def test_private_key_mode(keys):
    assert stat.S_IMODE(os.stat(keys[0]).st_mode) == 0o600
    os.chmod(keys[0], 0o644)
    try:
        with pytest.raises(ConfigError, match="chmod 600"):
            signing.load_private_key(keys[0])
    finally:
        os.chmod(keys[0], 0o600)


@pytest.mark.parametrize(
    "name",
    ["model.onnx", "model_batched.onnx", "policy.json", "MODEL_CARD.md", "MANIFEST.json", "MANIFEST.sig"],
)
def test_every_changed_byte_is_refused_naming_the_file(tiny_package, keys, tmp_path, name):
    src, _ = tiny_package
    pkg = tmp_path / "pkg"
    shutil.copytree(src, pkg)
    data = bytearray((pkg / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (pkg / name).write_bytes(bytes(data))
    with pytest.raises(PackageError, match=name.replace(".", r"\.")):
        load_package(pkg, signing.trusted_keys(keys[1]))


def test_unsigned_wrong_key_and_extra_files(tiny_package, keys, tmp_path, monkeypatch):
    src, _ = tiny_package
    pkg = tmp_path / "pkg"
    shutil.copytree(src, pkg)
    other = signing.generate_keys(tmp_path / "other")
    with pytest.raises(PackageError, match="does not verify"):
        load_package(pkg, signing.trusted_keys(other[1]))
    with pytest.raises(PackageError, match="no trusted public key"):
        load_package(pkg, [])
    # trust directory from the environment
    trust = tmp_path / "trust"
    trust.mkdir()
    shutil.copy(keys[1], trust / "ops.pub")
    monkeypatch.setenv(signing.TRUST_ENV, str(trust))
    assert load_package(pkg, signing.trusted_keys()).signed_by
    (pkg / "extra.py").write_text("print('hi')")
    with pytest.raises(PackageError, match="extra.py"):
        load_package(pkg, signing.trusted_keys())
    (pkg / "extra.py").unlink()
    (pkg / "MANIFEST.sig").unlink()
    with pytest.raises(PackageError, match="unsigned"):
        load_package(pkg, signing.trusted_keys())
    assert load_package(pkg, [], allow_unsigned=True).signed_by is None
    (pkg / "policy.json").write_text("{}")
    with pytest.raises(PackageError, match="policy.json"):
        load_package(pkg, [], allow_unsigned=True)


def test_int8_refused_outside_tolerance_unless_forced(tmp_path, keys):
    cfg = ExportConfig(batched=False, int8=True, int8_action_tol=1e-9, parity_samples=8)
    with pytest.raises(PackageError, match="INT8 model refused: mean action error"):
        export_package(TinyPolicy(), tiny_spec(), tmp_path / "a", sign_key=keys[0], config=cfg)
    cfg.force = True
    rep = export_package(TinyPolicy(), tiny_spec(), tmp_path / "b", sign_key=keys[0], config=cfg)
    assert rep["precision"] == "int8" and rep["int8"]["forced"] and not rep["int8"]["accepted"]
    ok = ExportConfig(batched=False, int8=True, parity_samples=8)
    rep = export_package(TinyPolicy(), tiny_spec(), tmp_path / "c", sign_key=keys[0], config=ok)
    assert rep["int8"]["accepted"] and rep["int8"]["action_error_rel"] <= ok.int8_action_tol
    assert load_package(tmp_path / "c", signing.trusted_keys(keys[1])).policy["precision"] == "int8"


def test_parity_failure_is_refused(tmp_path):
    class Noisy(TinyPolicy):  # fp64 internals the fp32 graph cannot reproduce exactly
        def forward(self, state):
            return super().forward(state) + 1e-3 * torch.sin(state.sum() * 1e4)

    with pytest.raises(PackageError, match="parity"):
        export_package(
            Noisy(), tiny_spec(), tmp_path / "p", config=ExportConfig(batched=False, parity_tol=1e-12)
        )


def _copy(tiny_package, tmp_path):
    pkg = tmp_path / "pkg"
    shutil.copytree(tiny_package[0], pkg)
    return pkg


def _never_read(monkeypatch, name: str) -> list[str]:
    """Fail the test if the verifier opens `name` for reading; returns the names it did read."""
    real = signing.read_file
    seen: list[str] = []

    def guarded(path, size):
        seen.append(os.path.basename(path))
        assert os.path.basename(path) != name, f"{name} was read before being refused"
        return real(path, size)

    monkeypatch.setattr(signing, "read_file", guarded)
    return seen


def test_unlisted_or_oversized_huge_file_refused_without_reading(tiny_package, keys, tmp_path, monkeypatch):
    pkg = _copy(tiny_package, tmp_path)
    with open(pkg / "weights.bin", "wb") as f:  # 1 GiB, sparse
        f.truncate(1 << 30)
    seen = _never_read(monkeypatch, "weights.bin")
    with pytest.raises(PackageError, match=r"weights\.bin \(1073741824 bytes\) is not listed"):
        load_package(pkg, signing.trusted_keys(keys[1]))
    assert seen == ["MANIFEST.json", "MANIFEST.sig"]  # nothing but the manifest and signature was read
    (pkg / "weights.bin").unlink()
    # a listed file grown to 1 GiB: refused by its size, before a byte of any file is hashed
    with open(pkg / "MODEL_CARD.md", "r+b") as f:
        f.truncate(1 << 30)
    seen = _never_read(monkeypatch, "MODEL_CARD.md")
    with pytest.raises(PackageError, match=r"MODEL_CARD\.md is 1073741824 bytes, MANIFEST\.json lists \d+"):
        load_package(pkg, signing.trusted_keys(keys[1]))
    assert seen == ["MANIFEST.json", "MANIFEST.sig"]


def test_blocks_are_streamed(tiny_package, keys, tmp_path, monkeypatch):
    monkeypatch.setattr(signing, "BLOCK", 64)
    reads: list[int] = []
    real = os.read
    monkeypatch.setattr(signing.os, "read", lambda fd, n: (reads.append(n), real(fd, n))[1])
    pkg = load_package(tiny_package[0], signing.trusted_keys(keys[1]))
    assert max(reads) <= 64 and len(reads) > 10 and pkg.infer({"state": np.zeros(12, np.float32)}).shape


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_symlink_and_directory_refused_by_name(tiny_package, keys, tmp_path):
    trusted = signing.trusted_keys(keys[1])
    pkg = _copy(tiny_package, tmp_path)
    os.mkfifo(pkg / "pipe")  # opening it for reading would block: it must be refused from lstat alone
    with pytest.raises(PackageError, match=r"pkg/pipe is a FIFO"):
        load_package(pkg, trusted)
    (pkg / "pipe").unlink()
    os.mkfifo(pkg / "MODEL_CARD.md.fifo")
    (pkg / "MODEL_CARD.md").unlink()
    (pkg / "MODEL_CARD.md.fifo").rename(pkg / "MODEL_CARD.md")  # a listed file replaced by a FIFO
    with pytest.raises(PackageError, match=r"MODEL_CARD\.md is a FIFO"):
        load_package(pkg, trusted)
    (pkg / "MODEL_CARD.md").unlink()
    (pkg / "MODEL_CARD.md").symlink_to(tiny_package[0] / "MODEL_CARD.md")  # same bytes, via a link
    with pytest.raises(PackageError, match=r"MODEL_CARD\.md is a symbolic link"):
        load_package(pkg, trusted)
    (pkg / "MODEL_CARD.md").unlink()
    (pkg / "MODEL_CARD.md").mkdir()
    with pytest.raises(PackageError, match=r"MODEL_CARD\.md is a directory; MANIFEST\.json lists it"):
        load_package(pkg, trusted)
    (pkg / "MODEL_CARD.md").rmdir()
    shutil.copy(tiny_package[0] / "MODEL_CARD.md", pkg / "MODEL_CARD.md")
    assert load_package(pkg, trusted).signed_by
    link = tmp_path / "link"
    link.symlink_to(pkg)
    with pytest.raises(PackageError, match="is a symbolic link, not a folder"):
        load_package(link, trusted)
