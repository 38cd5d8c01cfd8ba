"""Shared fixtures: a fleet service on SQLite (or PostgreSQL via PHYSAI_TEST_POSTGRES_URL), a signed
reference package, and helpers to enroll robots."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from physai.fleet.api import create_app
from physai.fleet.service import Fleet, FleetConfig

PG_URL = os.environ.get("PHYSAI_TEST_POSTGRES_URL")


@pytest.fixture(scope="session")
def signed_package(tmp_path_factory) -> dict:
    """The deploy reference controller exported and signed once per session (+ a tampered copy)."""
    import shutil

    from physai.deploy import signing
    from physai.deploy.package import ExportConfig, export_package
    from physai.deploy.reference import PickPlaceController, contract

    root = tmp_path_factory.mktemp("pkg")
    priv, pub = signing.generate_keys(root / "keys")
    export_package(
        PickPlaceController(),
        contract(),
        root / "pick-place",
        sign_key=priv,
        config=ExportConfig(batched=False),
    )
    shutil.copytree(root / "pick-place", root / "tampered")
    data = bytearray((root / "tampered" / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 1
    (root / "tampered" / "model.onnx").write_bytes(bytes(data))
    return {"path": root / "pick-place", "tampered": root / "tampered", "pub": pub, "priv": priv}


def _pg_url() -> str:
    """A fresh schema-isolated database URL on the test PostgreSQL server."""
    import sqlalchemy as sa

    name = "physai_test_" + uuid.uuid4().hex[:10]
    base = (
        PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
        if PG_URL.startswith("postgresql://")
        else PG_URL
    )
    eng = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    eng.dispose()
    return base.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite"] + (["postgresql"] if PG_URL else []))
def fleet(request, tmp_path: Path, signed_package) -> Fleet:
    url = f"sqlite:///{tmp_path}/fleet.db" if request.param == "sqlite" else _pg_url()
    f = Fleet(
        FleetConfig(
            db_url=url,
            data_dir=tmp_path / "data",
            trusted_keys=[signed_package["pub"]],
            rate=0,
            anon_rate=0,
            max_json_bytes=64 << 10,
        )
    )
    yield f
    f.close()
    if request.param == "postgresql":
        import sqlalchemy as sa

        eng = sa.create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
        eng.dispose()


@pytest.fixture
def sqlite_fleet(tmp_path: Path, signed_package) -> Fleet:
    f = Fleet(
        FleetConfig(
            db_url=f"sqlite:///{tmp_path}/fleet.db",
            data_dir=tmp_path / "data",
            trusted_keys=[signed_package["pub"]],
            rate=0,
            anon_rate=0,
        )
    )
    yield f
    f.close()


class Env:
    """A TestClient plus the admin key, an org, two sites and helpers."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.admin = fleet.bootstrap_admin()
        self.c = TestClient(create_app(fleet=fleet))
        self.A = self.h(self.admin)
        self.c.post("/api/v1/orgs", json={"name": "acme"}, headers=self.A)
        self.site1 = self.c.post("/api/v1/sites", json={"org_id": 1, "name": "north"}, headers=self.A).json()[
            "id"
        ]
        self.site2 = self.c.post("/api/v1/sites", json={"org_id": 1, "name": "south"}, headers=self.A).json()[
            "id"
        ]

    @staticmethod
    def h(key: str) -> dict:
        return {"Authorization": f"Bearer {key}"}

    def enroll(self, site: int, name: str, group: str = "default") -> tuple[int, dict]:
        t = self.c.post(
            "/api/v1/enrollment-tokens", json={"site_id": site, "group": group}, headers=self.A
        ).json()
        r = self.c.post(
            "/api/v1/enroll", json={"token": t["token"], "name": name, "embodiment": "arm7"}
        ).json()
        return r["robot_id"], self.h(r["key"])

    def operator(self, sites: list[int]) -> dict:
        k = self.c.post(
            "/api/v1/keys", json={"role": "operator", "name": "op", "site_ids": sites}, headers=self.A
        ).json()
        return self.h(k["key"])


@pytest.fixture
def env(fleet: Fleet) -> Env:
    return Env(fleet)


@pytest.fixture
def make_env():
    return Env


@pytest.fixture
def chromium_page(tmp_path):
    """A Playwright page in Debian's headless chromium (skips when either is missing)."""
    import shutil

    sync_api = pytest.importorskip("playwright.sync_api", reason="python package playwright is not installed")
    exe = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if exe is None:
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium)")
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=args, headless=True)
        yield browser.new_page(viewport={"width": 1100, "height": 900})
        browser.close()
