"""Run the fleet service: in the foreground (`physai fleet serve`) or on a background thread (demo,
tests, benchmark) with uvicorn on loopback."""

from __future__ import annotations

import socket
import threading
import time

from physai.core.errors import ConfigError
from physai.fleet.service import Fleet, FleetConfig


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BackgroundServer:
    """uvicorn serving `create_app` on a thread; `url`, `admin_key` (None if an admin already existed)."""

    def __init__(self, cfg: FleetConfig, host: str = "127.0.0.1", port: int | None = None) -> None:
        import uvicorn

        from physai.fleet.api import create_app

        self.fleet = Fleet(cfg)
        self.admin_key = self.fleet.bootstrap_admin()
        self.port = port or free_port()
        self.url = f"http://{host}:{self.port}"
        config = uvicorn.Config(
            create_app(fleet=self.fleet),
            host=host,
            port=self.port,
            log_level="warning",
            access_log=False,
            timeout_keep_alive=30,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="fleet-server")

    def start(self, timeout: float = 20.0) -> BackgroundServer:
        self.thread.start()
        t0 = time.monotonic()
        while not self.server.started:
            if time.monotonic() - t0 > timeout or not self.thread.is_alive():
                raise ConfigError(f"fleet service did not start on port {self.port} within {timeout} s")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.fleet.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
