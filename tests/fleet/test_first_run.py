"""A fleet's first run through the CLI only (no curl): `physai fleet serve` in a subprocess on a free port
with SQLite, then site -> enrollment token -> enroll -> package upload -> deployment -> the agent runs the
deployed package; with the errors a newcomer meets on the way (service down, wrong key, unknown site)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from physai.cli.main import app
from physai.fleet.server import free_port

runner = CliRunner()


def physai(*args: str) -> dict | list:
    r = runner.invoke(app, [*args, "--json"])
    assert r.exit_code == 0, (args, r.output, r.exception)
    return json.loads(r.stdout)


def fails(*args: str) -> str:
    """Run a command that must fail: one `error:` line, exit 2, no traceback."""
    r = runner.invoke(app, list(args))
    assert r.exit_code == 2, (args, r.exit_code, r.output)
    assert "Traceback" not in r.output and r.exception is None or isinstance(r.exception, SystemExit)
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.output
    return lines[0]


@pytest.fixture
def served(tmp_path: Path, monkeypatch, signed_package):
    """`physai fleet serve` as a user starts it, in tmp_path (so the admin key lands in fleet/admin.key)."""
    port = free_port()
    src = Path(__file__).resolve().parents[2] / "src"
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "physai.cli.main", "fleet", "serve", "--port", str(port),
         "--public-key", str(signed_package["pub"])],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(url + "/api/v1/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        assert time.monotonic() < deadline, "fleet serve did not start"
        time.sleep(0.2)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PHYSAI_FLEET_URL", url)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def test_first_run_without_curl(served: str, tmp_path: Path, signed_package) -> None:
    assert (tmp_path / "fleet" / "admin.key").is_file()  # where serve wrote it, the CLI's default key file
    r = runner.invoke(app, ["fleet", "site", "list"])
    assert r.exit_code == 0 and "physai fleet site create" in r.output  # the empty service says what next

    site = physai("fleet", "site", "create", "lab-1")
    assert site["name"] == "lab-1" and site["org"] == "default"
    assert [s["name"] for s in physai("fleet", "site", "list")] == ["lab-1"]

    tok = physai("fleet", "token", "create", "--site", str(site["id"]))
    spare = physai("fleet", "token", "create", "--site", str(site["id"]), "--group", "spare")
    assert physai("fleet", "token", "revoke", str(spare["id"]))["state"] == "expired"
    states = {t["id"]: t["state"] for t in physai("fleet", "token", "list")}
    assert states == {tok["id"]: "active", spare["id"]: "expired"}
    assert all("token" not in t for t in physai("fleet", "token", "list"))  # the secret is shown once

    enrolled = physai("fleet", "enroll", "--server", served, "--token", tok["token"], "--name", "arm-1",
                      "--key-file", "arm-1.key", "--embodiment", "arm7")
    assert enrolled["site_id"] == site["id"]
    assert "401" in fails("fleet", "enroll", "--server", served, "--token", spare["token"], "--name",
                          "arm-2", "--key-file", "arm-2.key")  # the revoked token enrolls nobody
    assert {t["id"]: t["state"] for t in physai("fleet", "token", "list")}[tok["id"]] == "used"

    pk = physai("fleet", "package", "upload", str(signed_package["path"]), "--name", "pick-place")
    assert pk["signed_by"] and pk["embodiment"] == "arm7"
    assert "refused" in fails("fleet", "package", "upload", str(signed_package["tampered"]))
    assert [p["id"] for p in physai("fleet", "package", "list")] == [pk["id"]]

    d = physai("fleet", "deployment", "create", "--package", str(pk["id"]), "--site", str(site["id"]),
               "--canary", "50")
    assert d["state"] == "canary"
    assert physai("fleet", "deployment", "promote", str(d["id"]))["state"] == "promoted"
    assert [x["id"] for x in physai("fleet", "deployment", "list")] == [d["id"]]

    ran = physai("fleet", "agent", "--server", served, "--key-file", "arm-1.key", "--public-key",
                 str(signed_package["pub"]), "--episodes", "1", "--fast", "--max-steps", "20")
    assert ran["online"] and ran["package"]["signed_by"] == pk["signed_by"]
    status = physai("fleet", "deployment", "status", str(d["id"]))
    assert status["robots_running_it"] == ["arm-1"] and status["robots_in_group"] == 1
    robots = physai("fleet", "robots")
    assert [(r["name"], r["package_id"]) for r in robots] == [("arm-1", pk["id"])]

    assert physai("fleet", "deployment", "rollback", str(d["id"]))["state"] == "rolled_back"


def test_first_run_errors(served: str, tmp_path: Path) -> None:
    assert "site 99" in fails("fleet", "token", "create", "--site", "99")
    assert "no such site" in fails("fleet", "deployment", "create", "--package", "5", "--site", "1")
    assert "no such deployment" in fails("fleet", "deployment", "status", "7")
    (tmp_path / "wrong.key").write_text("physai_admin_" + "x" * 40)
    assert "was refused" in fails("fleet", "site", "list", "--key-file", "wrong.key")
    assert "no such file" in fails("fleet", "site", "list", "--key-file", "missing.key")
    assert "MANIFEST" in fails("fleet", "package", "upload", str(tmp_path))
    port = free_port()
    assert "unreachable" in fails("fleet", "site", "list", "--server", f"http://127.0.0.1:{port}")
