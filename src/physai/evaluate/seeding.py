"""Episode seeds derived from (run seed, task, episode index) with a stable hash.

Episode i of task t always starts from the same initial state, whatever the number of workers, the
order episodes are scheduled in, the Python version or `PYTHONHASHSEED` (Python's `hash()` of a str is
salted per process, so it is never used here).
"""

from __future__ import annotations

import hashlib


def episode_seed(seed: int, task: str, index: int) -> int:
    """A 31-bit seed for episode `index` of `task` in a run with base `seed` (blake2b of the triple)."""
    if index < 0:
        raise ValueError(f"episode index must be >= 0, got {index}")
    key = f"physai-eval/v1|{int(seed)}|{task}|{int(index)}".encode()
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return int.from_bytes(digest, "little") & 0x7FFFFFFF
