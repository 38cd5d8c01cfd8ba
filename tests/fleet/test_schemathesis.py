"""Property-based API test: Schemathesis generates requests from the service's own OpenAPI spec (valid and
invalid ones) and sends them in-process (ASGI, no network); no response may be a 5xx.

Robot routes are called with a robot key, everything else with an admin key; the database holds an org, a
site, an enrolled robot, a signed package, a deployment and an upload so ids 1 resolve to real objects.
The quick run is bounded per operation; `-m slow` runs the exhaustive one."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from physai.fleet.api import create_app
from physai.fleet.service import Fleet, FleetConfig
from physai.fleet.storage import tar_dir

ROBOT_PATHS = (
    "/api/v1/heartbeat",
    "/api/v1/telemetry",
    "/api/v1/uploads",
    "/api/v1/assignment",
    "/api/v1/robots/me",
)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, signed_package) -> dict:
    """An app with one of every object, plus the admin and robot keys."""
    root = tmp_path_factory.mktemp("st")
    fleet = Fleet(
        FleetConfig(
            db_url=f"sqlite:///{root}/fleet.db",
            data_dir=root / "data",
            trusted_keys=[signed_package["pub"]],
            rate=0,
            anon_rate=0,
            max_json_bytes=64 << 10,
            max_chunk_bytes=64 << 10,
            max_package_bytes=4 << 20,
        )
    )
    admin = fleet.bootstrap_admin()
    app = create_app(fleet=fleet)
    c = TestClient(app)
    A = {"Authorization": f"Bearer {admin}"}
    assert c.post("/api/v1/orgs", json={"name": "acme"}, headers=A).status_code == 201
    site = c.post("/api/v1/sites", json={"org_id": 1, "name": "north"}, headers=A).json()["id"]
    tok = c.post("/api/v1/enrollment-tokens", json={"site_id": site}, headers=A).json()["token"]
    robot = c.post("/api/v1/enroll", json={"token": tok, "name": "r1"}).json()
    R = {"Authorization": f"Bearer {robot['key']}"}
    pk = c.post(
        "/api/v1/packages?name=pick&version=1.0.0",
        content=tar_dir(Path(signed_package["path"])),
        headers={**A, "Content-Type": "application/octet-stream"},
    ).json()
    c.post("/api/v1/deployments", json={"package_id": pk["id"], "site_id": site}, headers=A)
    c.post("/api/v1/uploads", json={"sha256": "0" * 64, "size": 3000, "chunk_size": 1024}, headers=R)
    spare = c.post("/api/v1/keys", json={"role": "operator", "name": "spare"}, headers=A).json()["id"]
    LATE.target = app
    # the fuzzer may revoke keys: never the two it authenticates with (key 1 is the bootstrap admin)
    protected = {"1", str(robot["key_id"])}
    yield {"app": app, "admin": A, "robot": R, "protected": protected, "spare": spare}
    fleet.close()


class _LateApp:
    """ASGI app forwarding to `target`: the schema is loaded at import (from an app on a stub fleet, the
    spec does not depend on data) and the `seeded` fixture points it at the real app."""

    def __init__(self) -> None:
        self.target = create_app(fleet=SimpleNamespace(cfg=FleetConfig()))

    async def __call__(self, scope, receive, send) -> None:
        await self.target(scope, receive, send)


LATE = _LateApp()
schema = schemathesis.openapi.from_asgi("/openapi.json", LATE)


def _headers(case, seeded: dict) -> dict:
    robot = case.path.startswith(ROBOT_PATHS) or "/chunks/" in case.path
    return seeded["robot"] if robot else seeded["admin"]


def _check(case, seeded: dict) -> None:
    kid = str((case.path_parameters or {}).get("key_id", "")).strip()
    if kid.isdigit() and str(int(kid)) in seeded["protected"]:
        case.path_parameters["key_id"] = seeded["spare"]
    case.call_and_validate(headers=_headers(case, seeded), checks=[schemathesis.checks.not_a_server_error])


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors(case, seeded) -> None:
    _check(case, seeded)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_exhaustive(case, seeded) -> None:
    _check(case, seeded)


# ------------------------------------------------------------------ regressions for what Schemathesis found
@pytest.fixture(scope="module")
def client(seeded) -> TestClient:
    return TestClient(seeded["app"], raise_server_exceptions=False)


BIG = 2**70


@pytest.mark.parametrize(
    "method,url,who",
    [
        ("get", f"/api/v1/robots/{BIG}", "admin"),
        ("get", f"/api/v1/robots/{-BIG}", "admin"),
        ("get", f"/api/v1/robots/{BIG}/telemetry", "admin"),
        ("get", f"/api/v1/episodes?robot_id={BIG}", "admin"),
        ("get", f"/api/v1/episodes/{BIG}/archive", "admin"),
        ("post", f"/api/v1/keys/{BIG}/revoke", "admin"),
        ("post", f"/api/v1/deployments/{BIG}/rollback", "admin"),
        ("get", f"/api/v1/packages/{BIG}/archive", "admin"),
        ("get", f"/api/v1/uploads/{BIG}", "robot"),
        ("put", f"/api/v1/uploads/1/chunks/{BIG}", "robot"),
    ],
)
def test_out_of_range_ids_are_422(client, seeded, method, url, who) -> None:
    """Ids beyond 64 bits used to reach SQLite and fail with OverflowError (500)."""
    r = getattr(client, method)(url, headers=seeded[who])
    assert r.status_code == 422, r.text


def test_out_of_range_site_id_in_a_key_is_422(client, seeded) -> None:
    """A site id beyond 64 bits in `site_ids` reached SQLite (OverflowError, 500); found by the slow run."""
    body = {"name": "op", "role": "operator", "site_ids": [2**63]}
    r = client.post("/api/v1/keys", json=body, headers=seeded["admin"])
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][:2] == ["body", "site_ids"]


@pytest.mark.parametrize("t", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
def test_telemetry_time_outside_utc_range_is_422(client, seeded, t) -> None:
    """A valid ISO time whose UTC value is before year 1 or after 9999 used to raise OverflowError (500)."""
    r = client.post("/api/v1/telemetry", json={"messages": [{"seq": 1, "t": t}]}, headers=seeded["robot"])
    assert r.status_code == 422 and "out of range" in r.text


def test_nan_in_a_number_field_is_422(client, seeded) -> None:
    """NaN is accepted by the JSON parser; the 422 answer used to echo it and fail to encode (500)."""
    body = b'{"messages": [{"seq": 2, "t": "2026-01-01T00:00:00Z", "energy_j": NaN}]}'
    h = {**seeded["robot"], "Content-Type": "application/json"}
    r = client.post("/api/v1/telemetry", content=body, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "energy_j"
    r = client.post(
        "/api/v1/sites",
        content=b'{"org_id": 1, "name": "x", "carbon_g_per_kwh": Infinity}',
        headers={**seeded["admin"], "Content-Type": "application/json"},
    )
    assert r.status_code == 422


def test_control_characters_in_text_are_422(client, seeded) -> None:
    """NUL reaches PostgreSQL as a DataError (500); free-text fields now refuse control characters."""
    msg = {"seq": 3, "t": "2026-01-01T00:00:00Z", "state": "a\u0000b"}
    r = client.post("/api/v1/telemetry", json={"messages": [msg]}, headers=seeded["robot"])
    assert r.status_code == 422
    r = client.post("/api/v1/heartbeat", json={"software_version": "1\n2"}, headers=seeded["robot"])
    assert r.status_code == 422


def test_upload_with_too_many_chunks_is_422(client, seeded) -> None:
    """16 GiB in 1 KiB chunks meant bookkeeping sets of 16 M entries on every completion attempt."""
    body = {"sha256": "1" * 64, "size": 1 << 34, "chunk_size": 1024}
    r = client.post("/api/v1/uploads", json=body, headers=seeded["robot"])
    assert r.status_code == 422 and "chunks" in r.text
