"""System description for profile reports: CPU, cores, memory, accelerators, OS, runtime versions, load."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib import metadata


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_gib() -> float | None:
    try:
        for line in open("/proc/meminfo", encoding="utf-8"):
            if line.startswith("MemTotal"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def nvidia_gpus() -> list[dict]:
    """GPUs from nvidia-smi (name, driver, memory); empty without a driver."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        r = subprocess.run(
            [exe, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    rows = []
    for line in r.stdout.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3:
            rows.append({"name": parts[0], "driver": parts[1], "memory": parts[2]})
    return rows


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def describe_system() -> dict:
    """JSON-ready description of the machine the profile ran on."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    runtimes = {
        d: _version(d)
        for d in (
            "physai",
            "numpy",
            "torch",
            "onnx",
            "onnxruntime",
            "onnxruntime-gpu",
            "onnxruntime-openvino",
            "tensorrt",
            "nvidia-ml-py",
        )
    }
    try:
        import torch

        runtimes["torch_cuda"] = torch.version.cuda
    except ImportError:
        pass
    try:
        import onnxruntime

        providers = onnxruntime.get_available_providers()
    except ImportError:
        providers = []
    return {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": affinity,
        "memory_gib": _mem_gib(),
        "machine": platform.machine(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "accelerators": nvidia_gpus(),
        "onnxruntime_providers": providers,
        "runtimes": {k: v for k, v in runtimes.items() if v is not None},
    }
