#!/usr/bin/env python3
"""mypy with a baseline that can only shrink.

`.ci/mypy-baseline.json` holds the mypy error count of every file that still has errors (config in
pyproject.toml, `[tool.mypy]`). This script runs mypy and fails when any file has more errors than its
baseline entry (a file not listed has a baseline of 0), naming the file and printing its new errors.
When files have fewer errors it says so; `--update` then rewrites the baseline with the lower counts
(it refuses to raise any count).

    python .ci/mypy_baseline.py            # check (CI)
    python .ci/mypy_baseline.py --update   # lock in improvements
    python .ci/mypy_baseline.py --init     # the first baseline (once)
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / ".ci" / "mypy-baseline.json"
_LINE = re.compile(r"^(?P<file>[^:\s]+\.py):\d+(?::\d+)?: error: ")


def count_errors(output: str) -> Counter[str]:
    """Errors per file in mypy's output (notes and the summary line are not errors)."""
    return Counter(m["file"] for m in map(_LINE.match, output.splitlines()) if m)


def compare(now: Counter[str], baseline: dict[str, int]) -> tuple[list[str], list[str]]:
    """(worse, better): files over their baseline, and files under it (with both counts)."""
    worse = [f"{f}: {n} errors, baseline {baseline.get(f, 0)}" for f, n in sorted(now.items())
             if n > baseline.get(f, 0)]
    better = [f"{f}: {now.get(f, 0)} errors, baseline {n}" for f, n in sorted(baseline.items())
              if now.get(f, 0) < n]
    return worse, better


def updated(now: Counter[str], baseline: dict[str, int]) -> dict[str, int]:
    """The shrunk baseline; raises ValueError if any file got worse."""
    worse, _ = compare(now, baseline)
    if worse:
        raise ValueError("the baseline only shrinks; fix these first:\n" + "\n".join(worse))
    return {f: n for f, n in sorted(now.items()) if n}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--update", action="store_true", help="rewrite the baseline with lower counts")
    ap.add_argument("--init", action="store_true", help="write the first baseline (no baseline file yet)")
    args = ap.parse_args(argv)
    res = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    if res.returncode not in (0, 1):  # 2: mypy itself failed (bad config, crash)
        sys.stderr.write(res.stdout + res.stderr)
        return 2
    now = count_errors(res.stdout)
    baseline = json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
    worse, better = compare(now, baseline)
    total, base_total = sum(now.values()), sum(baseline.values())
    if args.init:
        if BASELINE.exists():
            print(f"{BASELINE} exists; use --update (the baseline only shrinks)", file=sys.stderr)
            return 1
        BASELINE.write_text(json.dumps({f: n for f, n in sorted(now.items()) if n}, indent=1) + "\n")
        print(f"mypy baseline: {total} errors in {len(now)} files")
        return 0
    if args.update:
        try:
            BASELINE.write_text(json.dumps(updated(now, baseline), indent=1) + "\n")
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 1
        print(f"mypy baseline: {total} errors (was {base_total})")
        return 0
    if worse:
        print("mypy: new errors (the baseline can only shrink):", *worse, sep="\n  ", file=sys.stderr)
        bad = {w.split(":")[0] for w in worse}
        print(*(ln for ln in res.stdout.splitlines() if ln.split(":")[0] in bad), sep="\n", file=sys.stderr)
        return 1
    print(f"mypy: {total} errors, baseline {base_total}")
    if better:
        print("fewer errors than the baseline (run `python .ci/mypy_baseline.py --update`):", *better,
              sep="\n  ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
