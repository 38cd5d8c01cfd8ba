"""A small HTTP client of the fleet API (httpx), used by the agent, the flywheel, the demo and the
benchmark. Errors become `FleetError` with the server's message; network failures `FleetUnreachable`."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import httpx

from physai.core.errors import PhysaiError


class FleetError(PhysaiError):
    """The fleet service answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"fleet service: HTTP {status}: {message}")
        self.status = status


class FleetUnreachable(PhysaiError):
    """The fleet service could not be reached (network down, server stopped)."""


class FleetClient:
    """Calls /api/v1 with a bearer key; `transport` lets tests inject failures."""

    def __init__(
        self,
        url: str,
        key: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.url = url.rstrip("/")
        self.http = httpx.Client(
            base_url=self.url + "/api/v1", headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, retry_429: int = 5, **kw) -> httpx.Response:
        for attempt in range(retry_429 + 1):
            try:
                r = self.http.request(method, path, **kw)
            except httpx.TransportError as exc:
                raise FleetUnreachable(
                    f"fleet service at {self.url} unreachable: {exc.__class__.__name__}: {exc}"
                ) from None
            if r.status_code == 429 and attempt < retry_429:
                time.sleep(min(float(r.headers.get("retry-after", "1")), 5.0))
                continue
            if r.status_code >= 400:
                try:
                    msg = r.json().get("detail", r.text)
                except ValueError:
                    msg = r.text
                raise FleetError(r.status_code, str(msg))
            return r
        raise AssertionError("unreachable")

    def get(self, path: str, **kw):
        return self.request("GET", path, **kw).json()

    def post(self, path: str, body: dict | None = None, **kw):
        return self.request("POST", path, json=body if body is not None else {}, **kw).json()

    # -------------------------------------------------------------- composite operations
    def upload_episode(self, archive: bytes, meta: dict, chunk_size: int = 1 << 20) -> int:
        """Upload a tar'd one-episode dataset in chunks; resumes an earlier partial upload of the same
        bytes without re-sending its finished chunks. Returns the episode id."""
        sha = hashlib.sha256(archive).hexdigest()
        up = self.request(
            "POST", "/uploads", json={"sha256": sha, "size": len(archive), "chunk_size": chunk_size, **meta}
        ).json()
        if up.get("episode_id"):
            return int(up["episode_id"])
        cs, done = up["chunk_size"], set(up["received"])
        for i in range(up["chunks"]):
            if i in done:
                continue
            part = archive[i * cs : (i + 1) * cs]
            self.request(
                "PUT",
                f"/uploads/{up['id']}/chunks/{i}",
                content=part,
                headers={
                    "X-Chunk-Sha256": hashlib.sha256(part).hexdigest(),
                    "Content-Type": "application/octet-stream",
                },
            )
        return int(self.post(f"/uploads/{up['id']}/complete")["episode_id"])

    def upload_package(self, folder: Path, name: str, version: str) -> dict:
        from physai.fleet.storage import tar_dir

        return self.request(
            "POST",
            "/packages",
            params={"name": name, "version": version},
            content=tar_dir(Path(folder)),
            headers={"Content-Type": "application/octet-stream"},
        ).json()

    def download(self, path: str) -> bytes:
        return self.request("GET", path).content
