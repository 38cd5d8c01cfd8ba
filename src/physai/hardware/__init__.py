"""physai.hardware: device plugins (`plugins`, `discovery`, `builtin`, `torch_onnx`), the control-loop
profiler (`profiler`, `stats`), energy meters (`energy`), the carbon model (`carbon`) and the system
description (`sysinfo`). See docs/plugins.md."""

from physai.hardware.discovery import ENTRY_POINT_GROUP, discover, get_plugin, list_devices
from physai.hardware.plugins import ArtifactCache, CompileSpec, DevicePlugin, Probe

__all__ = [
    "ENTRY_POINT_GROUP",
    "ArtifactCache",
    "CompileSpec",
    "DevicePlugin",
    "Probe",
    "discover",
    "get_plugin",
    "list_devices",
]
