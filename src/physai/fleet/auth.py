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
    """Token bucket per caller: `rate` requests per second, bursts up to `burst`."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = float(rate), int(burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, who: str) -> float:
        """0 if the request may go ahead; otherwise seconds to wait (for Retry-After)."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(who, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[who] = (tokens - 1.0, now)
                return 0.0
            self._buckets[who] = (tokens, now)
            return (1.0 - tokens) / self.rate
