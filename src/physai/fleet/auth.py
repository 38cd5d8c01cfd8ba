"""Credentials, roles, object-level checks, rate limits and log redaction of the fleet service.

Keys are random (256 bits) and shown once; only their sha256 is stored. A key looks like
`physai_<role>_<random>`; the log filter redacts anything of that shape and every bearer token.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

ROLES = ("admin", "operator", "robot")
_KEY_RE = re.compile(r"(physai_(?:admin|operator|robot|enroll)_)[A-Za-z0-9_\-]+|(Bearer\s+)\S+")


def new_key(role: str) -> str:
    """A fresh secret for `role` (or 'enroll' for one-time enrollment tokens)."""
    return f"physai_{role}_{secrets.token_urlsafe(32)}"


def hash_key(key: str) -> str:
    """sha256 of a key (keys are high-entropy, so a fast hash is enough and lookups stay O(1))."""
    return hashlib.sha256(key.encode()).hexdigest()


def redact(text: str) -> str:
    """`text` with every key and bearer token replaced by `***`."""
    return _KEY_RE.sub(lambda m: (m.group(1) or m.group(2)) + "***", text)


class RedactFilter(logging.Filter):
    """Logging filter that removes secrets from messages and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(str(record.msg))
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in args)
        return True


def install_log_redaction() -> None:
    """Attach the redaction filter to the root, uvicorn and fastapi loggers."""
    for name in ("", "uvicorn", "uvicorn.access", "uvicorn.error", "fastapi", "physai.fleet"):
        lg = logging.getLogger(name)
        if not any(isinstance(f, RedactFilter) for f in lg.filters):
            lg.addFilter(RedactFilter())


@dataclass
class Principal:
    """Who is calling: role, key id, the robot it is (robot) or the sites it may see (operator)."""

    role: str
    key_id: int
    name: str
    robot_id: int | None = None
    site_ids: list[int] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.role}:{self.name}#{self.key_id}"

    def can_site(self, site_id: int) -> bool:
        """Admin: every site; operator: its sites; robot: none through this check."""
        return self.role == "admin" or (self.role == "operator" and site_id in self.site_ids)


class RateLimiter:
    """Token bucket per caller: `rate` requests per second, bursts up to `burst`.

    `clock` (monotonic seconds) is injectable for tests. The table of callers is bounded: past
    `max_callers`, callers whose bucket has refilled are forgotten (a full bucket is the default anyway).
    """

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic, max_callers: int = 100_000
    ) -> None:
        self.rate, self.burst = float(rate), int(burst)
        self.clock, self.max_callers = clock, int(max_callers)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def _tokens(self, who: str, now: float) -> float:
        tokens, last = self._buckets.get(who, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - last) * self.rate)

    def check(self, who: str) -> float:
        """Take a token: 0 if the request may go ahead; otherwise seconds to wait (for Retry-After)."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            tokens = self._tokens(who, now)
            if len(self._buckets) >= self.max_callers and who not in self._buckets:
                self._prune(now)
            if tokens >= 1.0:
                self._buckets[who] = (tokens - 1.0, now)
                return 0.0
            self._buckets[who] = (tokens, now)
            return (1.0 - tokens) / self.rate

    def blocked(self, who: str) -> float:
        """Seconds `who` must wait before its next request, without taking a token (0: not blocked)."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            tokens = self._tokens(who, self.clock())
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        for who in [w for w in self._buckets if self._tokens(w, now) >= self.burst]:
            del self._buckets[who]
        if len(self._buckets) >= self.max_callers:  # all busy: forget the oldest half
            for who in sorted(self._buckets, key=lambda w: self._buckets[w][1])[: self.max_callers // 2]:
                del self._buckets[who]
