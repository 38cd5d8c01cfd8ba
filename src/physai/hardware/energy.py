"""Energy meters: RAPL powercap, NVML, Jetson on-board INA monitors, or a labelled CPU-time estimate.

A meter gives cumulative joules; the profiler reads it before and after a scenario. Every reading is
tagged with the meter's `method` so a report never passes an estimate off as a measurement.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from pathlib import Path

POWERCAP = Path("/sys/class/powercap")
JETSON_ROOTS = (Path("/sys/bus/i2c/drivers/ina3221x"), Path("/sys/bus/i2c/drivers/ina3221"))
DEFAULT_CPU_WATTS_PER_CORE = 10.0
"""Rated W per busy core of the estimate when no meter is readable (env PHYSAI_CPU_WATTS_PER_CORE)."""


class EnergyMeter(ABC):
    """Cumulative energy counter."""

    method: str = ""
    """How the joules are obtained: 'rapl', 'nvml', 'jetson-ina', or 'estimate'."""
    measured: bool = True
    """False for a model (estimate), True for a hardware counter."""

    @abstractmethod
    def read_j(self) -> float:
        """Joules since an arbitrary origin (monotonic across reads, wrap-around handled)."""

    def describe(self) -> dict:
        return {"method": self.method, "measured": self.measured}


class RaplMeter(EnergyMeter):
    """Intel/AMD RAPL through powercap: sum of the top-level package domains (`intel-rapl:N`).

    `energy_uj` wraps at `max_energy_range_uj`; each read adds the wrapped delta. It counts the whole
    package, so other processes on the machine are included (the report says so).
    """

    method = "rapl"

    def __init__(self, root: Path = POWERCAP) -> None:
        self.domains = sorted(
            p
            for p in Path(root).glob("intel-rapl:*")
            if p.name.count(":") == 1 and (p / "energy_uj").exists()
        )
        if not self.domains:
            raise OSError(f"no RAPL package domain under {root}")
        self._max = [
            int((d / "max_energy_range_uj").read_text()) if (d / "max_energy_range_uj").exists() else 2**32
            for d in self.domains
        ]
        self._last = [self._raw(d) for d in self.domains]  # raises PermissionError when root-only
        self._total_uj = 0

    @staticmethod
    def _raw(d: Path) -> int:
        return int((d / "energy_uj").read_text())

    def read_j(self) -> float:
        for i, d in enumerate(self.domains):
            cur = self._raw(d)
            last = self._last[i]
            self._total_uj += cur - last if cur >= last else cur + self._max[i] - last
            self._last[i] = cur
        return self._total_uj / 1e6

    def describe(self) -> dict:
        return {
            **super().describe(),
            "domains": [d.name for d in self.domains],
            "scope": "whole CPU package (includes other processes)",
        }


class NvmlMeter(EnergyMeter):
    """NVIDIA GPU energy counter (`nvmlDeviceGetTotalEnergyConsumption`, mJ since driver load; Volta+)."""

    method = "nvml"

    def __init__(self, index: int = 0) -> None:
        import pynvml  # optional dependency (nvidia-ml-py)

        pynvml.nvmlInit()
        self._nv = pynvml
        self._h = pynvml.nvmlDeviceGetHandleByIndex(index)
        pynvml.nvmlDeviceGetTotalEnergyConsumption(self._h)  # raises NVMLError_NotSupported before Volta

    def read_j(self) -> float:
        return self._nv.nvmlDeviceGetTotalEnergyConsumption(self._h) / 1e3


class JetsonMeter(EnergyMeter):
    """Jetson INA3221 rails (`in_power*_input`, mW), integrated by the trapezoid rule between reads.

    Read it often (the profiler reads it once per inference batch) for a good integral.
    """

    method = "jetson-ina"

    def __init__(self, roots: tuple[Path, ...] = JETSON_ROOTS) -> None:
        self.rails = sorted(p for r in roots for p in Path(r).glob("*/iio:device*/in_power*_input"))
        if not self.rails:
            raise OSError("no Jetson INA3221 power rail found")
        self._t = time.monotonic()
        self._p = self._power_w()
        self._j = 0.0

    def _power_w(self) -> float:
        return sum(int(p.read_text()) for p in self.rails) / 1e3

    def read_j(self) -> float:
        t, p = time.monotonic(), self._power_w()
        self._j += 0.5 * (p + self._p) * (t - self._t)
        self._t, self._p = t, p
        return self._j


class CpuTimeEstimate(EnergyMeter):
    """Estimate: this process's CPU time x a rated power per busy core. Not a measurement."""

    method = "estimate"
    measured = False

    def __init__(self, watts_per_core: float | None = None) -> None:
        env = os.environ.get("PHYSAI_CPU_WATTS_PER_CORE")
        self.watts = float(
            watts_per_core if watts_per_core is not None else env or DEFAULT_CPU_WATTS_PER_CORE
        )

    def read_j(self) -> float:
        return time.process_time() * self.watts

    def describe(self) -> dict:
        return {
            **super().describe(),
            "model": f"process CPU time x {self.watts:g} W per busy core (rated)",
            "note": "estimate: no hardware energy counter was readable",
        }


def default_meter(
    kind: str = "cpu",
    powercap: Path = POWERCAP,
    jetson: tuple[Path, ...] = JETSON_ROOTS,
    watts_per_core: float | None = None,
) -> tuple[EnergyMeter, list[str]]:
    """The best readable meter for a device kind ('cpu' or 'cuda'), and why the better ones were skipped."""
    why: list[str] = []
    order = (["nvml"] if kind == "cuda" else []) + ["rapl", "jetson"]
    for name in order:
        try:
            if name == "nvml":
                return NvmlMeter(), why
            if name == "rapl":
                return RaplMeter(powercap), why
            return JetsonMeter(jetson), why
        except ImportError as exc:
            why.append(f"{name}: {exc} (pip install nvidia-ml-py)")
        except Exception as exc:  # unreadable sysfs, permission, NVML errors: fall through, say why
            why.append(f"{name}: {type(exc).__name__}: {exc}")
    return CpuTimeEstimate(watts_per_core), why
