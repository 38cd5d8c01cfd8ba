"""A short real profile on ort:cpu, torch:cpu and the test plugin; profile.json schema; tampered package
refused before any device sees it; CLI smoke."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from physai.cli.main import app
from physai.core.errors import PackageError
from physai.deploy.signing import trusted_keys
from physai.hardware.carbon import resolve
from physai.hardware.profiler import SCHEMA, ProfileConfig, run_profile

FAST = {"rates_hz": [100.0, 400.0], "duration_s": 0.15, "batches": [1, 4], "warmup": 3, "accuracy_samples": 4}

DEVICE_KEYS = {
    "device",
    "status",
    "precision",
    "runtime",
    "artifact",
    "energy_meter",
    "accuracy",
    "single_stream",
    "energy",
    "control_loop",
    "verdict",
    "chunked",
    "throughput",
    "memory",
    "scheduling",
    "seconds",
}


@pytest.fixture(scope="module")
def profile_doc(package, keys, tmp_path_factory):
    out = tmp_path_factory.mktemp("prof")
    doc = run_profile(
        package,
        ProfileConfig(
            devices=["ort:cpu", "torch:cpu", "ort:cuda", "nope:x"], grid=resolve("KR:2022"), **FAST
        ),
        out,
        trusted_keys(keys[1]),
    )
    return doc, out


def test_profile_schema(profile_doc):
    doc, out = profile_doc
    assert doc["schema"] == SCHEMA
    on_disk = json.loads((out / "profile.json").read_text())
    assert on_disk["devices"][0]["device"] == "ort:cpu"
    html = (out / "profile.html").read_text()
    assert html.count("data:image/png;base64,") == 3 and "ort:cuda" in html
    sysd = doc["system"]
    assert {"cpu_model", "cpu_count", "memory_gib", "os", "runtimes", "accelerators", "load_average"} <= set(
        sysd
    )
    assert sysd["runtimes"]["onnxruntime"] and sysd["runtimes"]["torch"]
    assert doc["grid_intensity"] == {
        "region": "KR",
        "year": 2022,
        "g_per_kwh": 431.2,
        "source": "Korea national grid emission factor 2022 (official)",
    }
    assert doc["package"]["signed_by"]
    ok = {d["device"]: d for d in doc["devices"] if d["status"] == "ok"}
    assert set(ok) == {"ort:cpu", "torch:cpu"}
    for d in ok.values():
        assert DEVICE_KEYS <= set(d)
        ss = d["single_stream"]
        assert ss["n"] > 10 and ss["p50_us"] <= ss["p90_us"] <= ss["p99_us"] <= ss["p99_9_us"] <= ss["max_us"]
        assert [c["rate_hz"] for c in d["control_loop"]] == [100.0, 400.0]
        for c in d["control_loop"]:
            assert c["n"] == round(0.15 * c["rate_hz"]) and 0 <= c["miss_rate"] <= c["miss_rate_upper95"] <= 1
        assert d["chunked"][0]["chunk_size"] == 4 and d["chunked"][0]["execution_horizon"] == 2
        assert [r["batch"] for r in d["throughput"]["sweep"]] == [1, 4]
        assert d["accuracy"]["max_abs_diff"] < 1e-4
        e = d["energy"]
        assert e["method"] in ("rapl", "nvml", "jetson-ina", "estimate") and e["j_per_inference"] >= 0
        assert e["inferences_per_hour"] == pytest.approx(50.0 / 2 * 3600)
        assert e["g_co2e_per_hour"] == pytest.approx(
            e["j_per_inference"] * e["inferences_per_hour"] / 3.6e6 * 431.2
        )
        assert d["memory"]["process_peak_rss_mb"] > 0
    assert set(doc["comparisons"]["speedup_vs_torch_cpu_p50"]) == {"ort:cpu", "torch:cpu"}
    bad = {d["device"]: d["error"] for d in doc["devices"] if d["status"] != "ok"}
    assert "pip install onnxruntime-gpu" in bad["ort:cuda"]
    assert "unknown device 'nope:x'" in bad["nope:x"]


def test_plugin_device_benchmarked(package, keys, tmp_path, test_plugin):
    cfg = ProfileConfig(devices=["testnpu:sim"], cache_dir=tmp_path, **FAST)
    doc = run_profile(package, cfg, None, trusted_keys(keys[1]))
    (d,) = doc["devices"]
    assert d["status"] == "ok", d
    assert d["runtime"] == "testnpu-sdk 0.1" and d["energy"]["method"] == "testnpu-board"
    assert d["energy"]["avg_power_w"] == pytest.approx(2.0, rel=0.05)
    assert d["throughput"]["sweep"][1]["batch"] == 4


def test_tampered_package_refused_before_loading(package, keys, tmp_path, monkeypatch):
    bad = tmp_path / "pkg"
    shutil.copytree(package, bad)
    data = bytearray((bad / "model.onnx").read_bytes())
    data[-10] ^= 0xFF
    (bad / "model.onnx").write_bytes(bytes(data))
    from physai.hardware import discovery, profiler

    def never(*a, **k):
        raise AssertionError("a device was reached with an unverified package")

    monkeypatch.setattr(discovery, "discover", never)
    monkeypatch.setattr(profiler, "discover", never)
    with pytest.raises(PackageError, match="does not match its sha256"):
        run_profile(bad, ProfileConfig(devices=["ort:cpu"], **FAST), tmp_path / "out", trusted_keys(keys[1]))
    assert not (tmp_path / "out").exists()
    with pytest.raises(PackageError, match="no trusted public key"):
        run_profile(package, ProfileConfig(devices=["ort:cpu"], cache_dir=tmp_path, **FAST), None, [])


def test_cli(package, keys, tmp_path):
    r = CliRunner().invoke(app, ["devices", "--json"])
    assert r.exit_code == 0, r.output
    assert any(d["device"] == "ort:cpu" for d in json.loads(r.stdout)["devices"])
    r = CliRunner().invoke(
        app,
        [
            "profile",
            "--package",
            str(package),
            "--devices",
            "ort:cpu@int8",
            "--hz",
            "200",
            "--duration",
            "0.1",
            "--batches",
            "1",
            "--out",
            str(tmp_path / "p"),
            "--public-key",
            str(keys[1]),
            "--grid-intensity",
            "100",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    (d,) = doc["devices"]
    assert d["status"] == "ok" and d["precision"] == "int8" and doc["grid_intensity"]["g_per_kwh"] == 100.0
    assert 0 < d["accuracy"]["max_abs_diff"] < 0.1  # quantized at compile, compared against fp32
    r = CliRunner().invoke(
        app, ["profile", "--package", str(package), "--out", str(tmp_path / "q"), "--hz", "0"]
    )
    assert r.exit_code == 2 and "positive" in r.output


def test_demo_stage_registered():
    from physai.demo.registry import STAGES, load_stages

    assert "profile" in STAGES and load_stages().index("profile") > load_stages().index("package")


def test_int8_package(keys, tmp_path, tiny_policy):
    """An INT8 package runs as INT8 on ort:cpu; torch:cpu says it cannot, and is not measured."""
    from physai.deploy.package import ExportConfig, export_package

    pkg = tmp_path / "int8"
    export_package(
        *tiny_policy,
        pkg,
        sign_key=keys[0],
        config=ExportConfig(batched=False, parity_samples=4, int8=True, force=True),
    )
    cfg = ProfileConfig(devices=["ort:cpu", "torch:cpu"], cache_dir=tmp_path / "c", **FAST)
    doc = run_profile(pkg, cfg, None, trusted_keys(keys[1]))
    ort, torch_ = doc["devices"]
    assert ort["status"] == "ok" and ort["precision"] == "int8" and doc["package"]["precision"] == "int8"
    assert "no batched variant" in ort["throughput"]["skipped"]
    assert torch_["status"] == "error" and "precision 'int8'" in torch_["error"]
