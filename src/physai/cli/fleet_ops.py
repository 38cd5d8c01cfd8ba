"""`physai fleet site|token|package|deployment|robots`: a fleet's first run without curl.

Thin: each command is one or two calls of `physai.fleet.client.FleetClient` against a running service,
authenticated with an admin (or operator) key file — by default the `fleet/admin.key` that
`physai fleet serve` writes on its first start, at `http://127.0.0.1:8080` (`--server`, or
$PHYSAI_FLEET_URL / $PHYSAI_FLEET_KEY_FILE).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import typer

from physai.cli.ui import handle_errors, out, print_json, print_table, table
from physai.core.errors import ConfigError

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_KEY_FILE = Path("fleet/admin.key")

SERVER_OPT = typer.Option(
    None, "--server", help=f"Fleet service URL (default $PHYSAI_FLEET_URL or {DEFAULT_URL})."
)
KEY_OPT = typer.Option(
    None,
    "--key-file",
    help=f"Admin/operator key file (default $PHYSAI_FLEET_KEY_FILE or {DEFAULT_KEY_FILE}, "
    "written by `physai fleet serve`).",
)
JSON_OPT = typer.Option(False, "--json", help="Print one JSON document.")


@contextlib.contextmanager
def connect(server: str | None, key_file: Path | None) -> Iterator:
    """A FleetClient with the key of `key_file`; service errors become one-line hints."""
    from physai.fleet.client import FleetClient, FleetError, FleetUnreachable

    url = server or os.environ.get("PHYSAI_FLEET_URL") or DEFAULT_URL
    path = key_file or Path(os.environ.get("PHYSAI_FLEET_KEY_FILE") or DEFAULT_KEY_FILE)
    if not path.is_file():
        raise ConfigError(
            f"--key-file {path}: no such file; `physai fleet serve` writes the first admin key to "
            f"fleet/admin.key in the folder it runs in (or issue one with `physai fleet admin --recover`)"
        )
    key = path.read_text().strip()
    if not key:
        raise ConfigError(f"--key-file {path} is empty; it should hold one physai_admin_… key")
    client = FleetClient(url, key, timeout=30.0)
    try:
        yield client
    except FleetError as exc:
        if exc.status == 401:
            raise ConfigError(
                f"{exc}: the key in {path} was refused (wrong, revoked or expired) by {url}; use the "
                "admin key `physai fleet serve` wrote, or `physai fleet admin --recover` on the server"
            ) from None
        if exc.status == 403:
            raise ConfigError(f"{exc}: the key in {path} may not do this (an admin key can)") from None
        raise
    except FleetUnreachable as exc:
        raise ConfigError(f"{exc}; start it with `physai fleet serve` or point --server at it") from None
    finally:
        client.close()


def _show(rows: list[dict], columns: tuple[str, ...], json_out: bool, empty: str) -> None:
    if json_out:
        print_json(rows)
        return
    if not rows:
        out.print(empty)
        return
    t = table(*columns)
    for r in rows:
        t.add_row(*("" if r.get(c) is None else str(r.get(c)) for c in columns))
    print_table(t)


# ---------------------------------------------------------------------------------------------- sites
site_app = typer.Typer(help="Sites (a place with robots; tokens and deployments belong to one).",
                       no_args_is_help=True)


@site_app.command("create")
@handle_errors
def site_create(
    name: str = typer.Argument(..., help="Site name, e.g. lab-1."),
    org: str = typer.Option(
        None, "--org", help="Organisation name (created if new; default: the only one, or 'default')."
    ),
    carbon: float = typer.Option(400.0, "--carbon", help="Grid carbon intensity of the site (g CO2e/kWh)."),
    server: str = SERVER_OPT,
    key_file: Path = KEY_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Create a site (and its organisation on a new service)."""
    with connect(server, key_file) as c:
        orgs = c.get("/orgs")
        if org is None and len(orgs) > 1:
            raise ConfigError(f"the service has {len(orgs)} organisations "
                              f"({', '.join(o['name'] for o in orgs)}); say which with --org")
        want = org or (orgs[0]["name"] if orgs else "default")
        match = [o for o in orgs if o["name"] == want]
        o = match[0] if match else c.post("/orgs", {"name": want})
        site = c.post("/sites", {"org_id": o["id"], "name": name, "carbon_g_per_kwh": carbon})
    if json_out:
        print_json({**site, "org": o["name"]})
    else:
        out.print(f"site {site['id']} '{site['name']}' (org '{o['name']}'); next: "
                  f"physai fleet token create --site {site['id']}")


@site_app.command("list")
@handle_errors
def site_list(server: str = SERVER_OPT, key_file: Path = KEY_OPT, json_out: bool = JSON_OPT) -> None:
    """Sites the key can see."""
    with connect(server, key_file) as c:
        rows = c.get("/sites")
    _show(rows, ("id", "name", "org_id", "carbon_g_per_kwh"), json_out,
          "no sites yet: physai fleet site create NAME")


# ---------------------------------------------------------------------------------------------- tokens
token_app = typer.Typer(help="One-time enrollment tokens robots exchange for their own key.",
                        no_args_is_help=True)


def _site_exists(c, site: int) -> None:
    if not any(s["id"] == site for s in c.get("/sites")):
        raise ConfigError(f"--site {site}: no such site; `physai fleet site list` shows them "
                          "(`physai fleet site create NAME` makes one)")


@token_app.command("create")
@handle_errors
def token_create(
    site: int = typer.Option(..., "--site", min=1, help="Site id (`physai fleet site list`)."),
    group: str = typer.Option("default", "--group", help="Robot group; deployments target a group."),
    hours: float = typer.Option(1.0, "--hours", help="Hours until the token expires (at most 720)."),
    server: str = SERVER_OPT,
    key_file: Path = KEY_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Issue a one-time enrollment token (shown once)."""
    from physai.cli.ui import positive

    positive(hours, "--hours", allow_none=False)
    with connect(server, key_file) as c:
        _site_exists(c, site)
        t = c.post("/enrollment-tokens", {"site_id": site, "group": group, "ttl_s": hours * 3600.0})
        url = c.url
    if json_out:
        print_json(t)
    else:
        out.print(f"token {t['id']} for site {t['site_id']} group '{t['group']}', one use, expires "
                  f"{t['expires_at']}; on the robot:")
        print(f"physai fleet enroll --server {url} --token {t['token']} --name ROBOT --key-file ROBOT.key")


@token_app.command("list")
@handle_errors
def token_list(server: str = SERVER_OPT, key_file: Path = KEY_OPT, json_out: bool = JSON_OPT) -> None:
    """Enrollment tokens (state active / used / expired; never the secret)."""
    with connect(server, key_file) as c:
        rows = c.get("/enrollment-tokens")
    _show(rows, ("id", "site_id", "group", "state", "expires_at", "robot_id"), json_out,
          "no enrollment tokens yet: physai fleet token create --site ID")


@token_app.command("revoke")
@handle_errors
def token_revoke(
    token_id: int = typer.Argument(..., min=1, help="Token id (`physai fleet token list`)."),
    server: str = SERVER_OPT,
    key_file: Path = KEY_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Withdraw an unused enrollment token."""
    with connect(server, key_file) as c:
        t = c.post(f"/enrollment-tokens/{token_id}/revoke")
    if json_out:
        print_json(t)
    else:
        out.print(f"token {t['id']} is {t['state']} (no robot can enroll with it)")


# ---------------------------------------------------------------------------------------------- packages
package_app = typer.Typer(help="Signed packages on the service.", no_args_is_help=True)


@package_app.command("upload")
@handle_errors
def package_upload(
    folder: Path = typer.Argument(..., help="A package folder (`physai export` output)."),
    name: str = typer.Option(None, "--name", help="Package name (default: the folder's name)."),
    version: str = typer.Option(
        None, "--version", help="Version (default: the first 12 hex digits of its MANIFEST.json sha256)."
    ),
    server: str = SERVER_OPT,
    key_file: Path = KEY_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Upload a signed package; the service verifies its signature and every hash before keeping it."""
    import hashlib
    import re

    if not (folder / "MANIFEST.json").is_file():
        raise ConfigError(f"{folder} is not a package folder (no MANIFEST.json); make one with "
                          "`physai export --policy RUN/checkpoint --out FOLDER --sign-key KEY`")
    name = name or re.sub(r"[^\w.-]", "-", folder.resolve().name)
    version = version or hashlib.sha256((folder / "MANIFEST.json").read_bytes()).hexdigest()[:12]
    with connect(server, key_file) as c:
        pk = c.upload_package(folder, name, version)
    if json_out:
        print_json(pk)
    else:
        out.print(f"package {pk['id']} {pk['name']} {pk['version']} verified (signed by {pk['signed_by']}, "
                  f"robot {pk['embodiment']}); next: physai fleet deployment create --package {pk['id']} "
                  "--site SITE")


@package_app.command("list")
@handle_errors
def package_list(server: str = SERVER_OPT, key_file: Path = KEY_OPT, json_out: bool = JSON_OPT) -> None:
    """Packages on the service."""
    with connect(server, key_file) as c:
        rows = c.get("/packages")
    _show(rows, ("id", "name", "version", "embodiment", "signed_by", "created_at"), json_out,
          "no packages yet: physai fleet package upload PKG_FOLDER")


# ---------------------------------------------------------------------------------------------- deployments
deploy_app = typer.Typer(help="Deployments: a package rolled out to a site's robot group.",
                         no_args_is_help=True)


@deploy_app.command("create")
@handle_errors
def deployment_create(
    package: int = typer.Option(..., "--package", min=1, help="Package id (`physai fleet package list`)."),
    site: int = typer.Option(..., "--site", min=1, help="Site id."),
    group: str = typer.Option("default", "--group", help="Robot group of the site."),
    canary: int = typer.Option(100, "--canary", min=0, max=100,
                               help="Percent of the group that gets it (100: everyone; less: a canary)."),
    server: str = SERVER_OPT,
    key_file: Path = KEY_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Roll a package out to a group (robots pick it up at their next heartbeat)."""
    with connect(server, key_file) as c:
        _site_exists(c, site)
        if not any(p["id"] == package for p in c.get("/packages")):
            raise ConfigError(f"--package {package}: no such package; `physai fleet package list` shows them")
        d = c.post("/deployments", {"package_id": package, "site_id": site, "group": group,
                                    "canary_percent": canary})
    if json_out:
        print_json(d)
    else:
        out.print(f"deployment {d['id']}: package {d['package_id']} -> site {d['site_id']} group "
                  f"'{d['group']}' ({d['state']}, {d['canary_percent']}%)")


@deploy_app.command("list")
@handle_errors
def deployment_list(server: str = SERVER_OPT, key_file: Path = KEY_OPT, json_out: bool = JSON_OPT) -> None:
    """Deployments, newest first."""
    with connect(server, key_file) as c:
        rows = c.get("/deployments")
    _show(rows, ("id", "package_id", "site_id", "group", "state", "canary_percent", "updated_at"), json_out,
          "no deployments yet: physai fleet deployment create --package ID --site ID")


def _status(c, deployment_id: int) -> dict:
    d = next((d for d in c.get("/deployments") if d["id"] == deployment_id), None)
    if d is None:
        raise ConfigError(f"deployment {deployment_id}: no such deployment; `physai fleet deployment list`")
    group = [r for r in c.get("/robots") if r["site_id"] == d["site_id"] and r["group"] == d["group"]]
    running = [r["name"] for r in group if r["package_id"] == d["package_id"]]
    return {**d, "robots_in_group": len(group), "robots_running_it": running}


@deploy_app.command("status")
@handle_errors
def deployment_status(
    deployment_id: int = typer.Argument(..., min=1),
    server: str = SERVER_OPT,
    key_file: Path = KEY_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """One deployment: state, history and which robots of its group run its package."""
    with connect(server, key_file) as c:
        s = _status(c, deployment_id)
    if json_out:
        print_json(s)
        return
    out.print(f"deployment {s['id']}: package {s['package_id']} -> site {s['site_id']} group '{s['group']}', "
              f"{s['state']} ({s['canary_percent']}%); {len(s['robots_running_it'])}/{s['robots_in_group']} "
              f"robots run it: {', '.join(s['robots_running_it']) or '-'}")
    for h in s["history"]:
        out.print(f"  {h['t']}  {h['state']:11s} {h['canary_percent']:3d}%  by {h['by']}")


def _transition(deployment_id: int, action: str, server: str | None, key_file: Path | None,
                json_out: bool) -> None:
    with connect(server, key_file) as c:
        d = c.post(f"/deployments/{deployment_id}/{action}")
    if json_out:
        print_json(d)
    else:
        out.print(f"deployment {d['id']} is {d['state']} ({d['canary_percent']}%)")


@deploy_app.command("promote")
@handle_errors
def deployment_promote(
    deployment_id: int = typer.Argument(..., min=1),
    server: str = SERVER_OPT,
    key_file: Path = KEY_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Canary -> every robot of the group."""
    _transition(deployment_id, "promote", server, key_file, json_out)


@deploy_app.command("rollback")
@handle_errors
def deployment_rollback(
    deployment_id: int = typer.Argument(..., min=1),
    server: str = SERVER_OPT,
    key_file: Path = KEY_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Withdraw a deployment; its robots fall back to the group's previous one."""
    _transition(deployment_id, "rollback", server, key_file, json_out)


@handle_errors
def robots_cmd(server: str = SERVER_OPT, key_file: Path = KEY_OPT, json_out: bool = JSON_OPT) -> None:
    """Enrolled robots: site, group, online, the package each runs."""
    with connect(server, key_file) as c:
        rows = c.get("/robots")
    _show(rows, ("id", "name", "site_id", "group", "embodiment", "online", "state", "package_id"), json_out,
          "no robots yet: physai fleet token create --site ID, then physai fleet enroll on the robot")


def add_to(fleet_app: typer.Typer) -> None:
    """Mount the commands on `physai fleet`."""
    fleet_app.add_typer(site_app, name="site")
    fleet_app.add_typer(token_app, name="token")
    fleet_app.add_typer(package_app, name="package")
    fleet_app.add_typer(deploy_app, name="deployment")
    fleet_app.command("robots")(robots_cmd)
