"""The mypy ratchet (.ci/mypy_baseline.py): a new error in any file fails, fewer errors may be locked in,
the baseline never grows. (CI runs mypy itself through `make typecheck`; this checks the bookkeeping.)"""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("mypy_baseline", ROOT / ".ci" / "mypy_baseline.py")
mb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mb)

OUT = """src/physai/a.py:3: error: Item "None" has no attribute "x"  [union-attr]
src/physai/a.py:9:5: error: Incompatible types  [assignment]
src/physai/a.py:9: note: see https://mypy.readthedocs.io
src/physai/b.py:1: error: Name "y" is not defined  [name-defined]
Found 3 errors in 2 files (checked 5 source files)
"""


def test_counts_errors_per_file_not_notes():
    assert mb.count_errors(OUT) == Counter({"src/physai/a.py": 2, "src/physai/b.py": 1})


def test_a_new_error_anywhere_fails_and_fewer_may_be_locked_in():
    now = mb.count_errors(OUT)
    worse, better = mb.compare(now, {"src/physai/a.py": 2})  # b.py is not in the baseline: 0 allowed
    assert worse == ["src/physai/b.py: 1 errors, baseline 0"] and better == []
    worse, better = mb.compare(now, {"src/physai/a.py": 5, "src/physai/b.py": 1, "src/physai/c.py": 2})
    assert worse == [] and len(better) == 2
    assert mb.updated(now, {"src/physai/a.py": 5, "src/physai/b.py": 1, "src/physai/c.py": 2}) == dict(now)
    with pytest.raises(ValueError, match="only shrinks"):
        mb.updated(now, {"src/physai/a.py": 1})


def test_the_committed_baseline_is_per_file_counts():
    doc = json.loads((ROOT / ".ci" / "mypy-baseline.json").read_text())
    assert doc and all(k.startswith("src/physai/") and isinstance(v, int) and v > 0 for k, v in doc.items())
