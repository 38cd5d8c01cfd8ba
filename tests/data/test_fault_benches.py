"""Issue 18's fault-injection benches as slow tests (`make test-slow`): damage cases and SIGKILLs of
`physai collect`, with the targets they must reach."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _bench(name: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    subprocess.run([sys.executable, str(ROOT / "bench" / name), *args], check=True, env=env, cwd=ROOT,
                   timeout=1800)
    return json.loads((ROOT / "bench" / "results" / name.replace(".py", ".json")).read_text())


@pytest.mark.slow
def test_damage_cases_delete_no_intact_episode():
    s = _bench("dataset_damage.py", "--baseline-commit", "")["summary"]
    assert s["cases"] >= 30 and s["intact_episodes_deleted"] == 0 and s["errors"] == 0
    assert s["validate_named_file_and_episodes"] == s["cases"] and s["damaged_episodes_kept"] == 0
    assert s["repaired_loads"] == s["cases"] and s["quarantine_keeps_every_byte"] == s["cases"]


@pytest.mark.slow
def test_collect_kills_lose_at_most_the_in_flight_episodes():
    doc = _bench("collect_kills.py", "--kills", "8")
    assert doc["valid_empty_before_repair"] == 0 and doc["committed_episodes_lost"] == 0
    assert doc["lost_over_workers"] == 0
