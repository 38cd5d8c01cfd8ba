"""Energy meters against fake sysfs trees (RAPL wrap-around, Jetson rails), fallbacks, carbon arithmetic."""

from __future__ import annotations

import time

import pytest

from physai.core.errors import ConfigError
from physai.hardware import carbon, energy


def _rapl(root, name, uj, max_uj):
    d = root / name
    d.mkdir(parents=True)
    (d / "energy_uj").write_text(str(uj))
    (d / "max_energy_range_uj").write_text(str(max_uj))
    return d


def test_rapl_wraparound(tmp_path):
    p0 = _rapl(tmp_path, "intel-rapl:0", 999_000, 1_000_000)
    p1 = _rapl(tmp_path, "intel-rapl:1", 10, 1_000_000)
    _rapl(tmp_path, "intel-rapl:0:0", 5, 1_000_000)  # a sub-domain (core): not counted twice
    m = energy.RaplMeter(tmp_path)
    assert [d.name for d in m.domains] == ["intel-rapl:0", "intel-rapl:1"]
    assert m.read_j() == 0.0
    (p0 / "energy_uj").write_text("500")  # wrapped: 1000 uj to the top + 500
    (p1 / "energy_uj").write_text("1000010")
    assert m.read_j() == pytest.approx((1_000 + 500 + 1_000_000) / 1e6)
    (p0 / "energy_uj").write_text("2500")
    assert m.read_j() == pytest.approx((1_500 + 1_000_000 + 2_000) / 1e6)
    assert m.describe()["method"] == "rapl" and m.measured


def test_fallbacks_to_labelled_estimate(tmp_path, monkeypatch):
    monkeypatch.delenv("PHYSAI_CPU_WATTS_PER_CORE", raising=False)
    m, why = energy.default_meter(
        "cpu", powercap=tmp_path / "none", jetson=(tmp_path / "none",), watts_per_core=5.0
    )
    assert m.method == "estimate" and not m.measured
    assert any(w.startswith("rapl") for w in why) and any(w.startswith("jetson") for w in why)
    assert "estimate" in m.describe()["note"]
    a = m.read_j()
    t = time.process_time()
    while time.process_time() - t < 0.02:
        pass
    assert m.read_j() - a == pytest.approx(5.0 * (time.process_time() - t), rel=0.5, abs=0.05)
    m2, why2 = energy.default_meter("cuda", powercap=tmp_path / "none", jetson=(tmp_path / "none",))
    assert m2.method == "estimate" and why2[0].startswith("nvml")


def test_unreadable_rapl_falls_through(tmp_path, monkeypatch):
    _rapl(tmp_path, "intel-rapl:0", 1, 100)

    def denied(self):
        raise PermissionError("energy_uj is root-only")

    monkeypatch.setattr(energy.RaplMeter, "_raw", staticmethod(lambda d: denied(None)))
    m, why = energy.default_meter("cpu", powercap=tmp_path, jetson=(tmp_path / "none",))
    assert m.method == "estimate" and "PermissionError" in why[0]


def test_jetson_rails(tmp_path, monkeypatch):
    d = tmp_path / "ina3221x" / "1-0040" / "iio:device0"
    d.mkdir(parents=True)
    (d / "in_power0_input").write_text("3000")  # mW
    (d / "in_power1_input").write_text("1000")
    clock = iter([10.0, 12.0, 13.0])
    monkeypatch.setattr(energy.time, "monotonic", lambda: next(clock))
    m, _ = energy.default_meter("cpu", powercap=tmp_path / "none", jetson=(tmp_path / "ina3221x",))
    assert m.method == "jetson-ina"
    assert m.read_j() == pytest.approx(4.0 * 2)  # 4 W for 2 s
    (d / "in_power0_input").write_text("1000")
    assert m.read_j() == pytest.approx(8.0 + 0.5 * (4.0 + 2.0) * 1)


def test_grid_table_and_carbon():
    kr = carbon.lookup()
    assert (kr.region, kr.year, kr.g_per_kwh) == ("KR", 2023, 417.3) and "official" in kr.source
    assert carbon.resolve("KR:2022").g_per_kwh == 431.2
    assert carbon.resolve("kr:2021").g_per_kwh == 450.9
    w = carbon.resolve("XX")
    assert w.g_per_kwh == 475.0 and "no row for region 'XX'" in w.source
    o = carbon.resolve("300")
    assert o.region == "override" and o.g_per_kwh == 300.0
    assert carbon.grams_co2e(3.6e6, kr) == pytest.approx(417.3)  # 1 kWh
    assert carbon.grams_co2e(36.0, o) == pytest.approx(0.003)  # 10 mWh at 300 g/kWh
    with pytest.raises(ConfigError, match="years"):
        carbon.resolve("KR:1999")
    with pytest.raises(ConfigError):
        carbon.resolve("-1")
