"""`physai fleet serve|admin|audit|enroll|agent` and `physai flywheel`: thin wrappers over `physai.fleet`
(the client-side site/token/package/deployment commands are in `physai.cli.fleet_ops`)."""

from __future__ import annotations

from pathlib import Path

import typer

from physai.cli.ui import RichProgress, handle_errors, out, print_json

fleet_app = typer.Typer(
    help="Fleet operations: the service, sites, enrollment tokens, packages, deployments, the robot agent.",
    no_args_is_help=True,
)


@fleet_app.command("serve")
@handle_errors
def serve(
    db: str = typer.Option(
        "sqlite:///fleet/fleet.db", "--db", help="sqlite:///FILE or postgresql://user@host/db"
    ),
    data_dir: Path = typer.Option(Path("fleet"), "--data-dir", help="Uploaded episodes and packages."),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8080, "--port"),
    public_key: list[Path] = typer.Option([], "--public-key", help="Trusted package signing key(s) (.pub)."),
    admin_key_file: Path = typer.Option(
        Path("fleet/admin.key"), "--admin-key-file", help="Where the first admin key is written (mode 0600)."
    ),
) -> None:
    """Run the fleet service (API, OpenAPI at /docs, dashboard at /)."""
    import os

    import uvicorn

    from physai.fleet.api import create_app
    from physai.fleet.service import Fleet, FleetConfig

    fleet = Fleet(FleetConfig(db_url=db, data_dir=data_dir, trusted_keys=list(public_key)))
    key = fleet.bootstrap_admin()
    if key:
        admin_key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(admin_key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key + "\n")
        out.print(f"first admin key written to {admin_key_file} (paste it into the dashboard to log in)")
    out.print(f"fleet service on http://{host}:{port}/  (API /api/v1, OpenAPI /docs)")
    try:
        uvicorn.run(create_app(fleet=fleet), host=host, port=port, log_level="info")
    finally:
        fleet.close()  # signs the audit checkpoint


def _server_config(db: str, data_dir: Path, audit_key: Path | None, audit_anchor: Path | None):
    from physai.fleet.service import FleetConfig

    return FleetConfig(db_url=db, data_dir=data_dir, audit_key=audit_key, audit_anchor=audit_anchor)


DB_OPT = typer.Option("sqlite:///fleet/fleet.db", "--db", help="The service's database URL.")
DATA_OPT = typer.Option(Path("fleet"), "--data-dir", help="The service's data folder.")
AUDIT_KEY_OPT = typer.Option(
    None, "--audit-key", help="Audit checkpoint key, if the service uses one outside --data-dir."
)
ANCHOR_OPT = typer.Option(
    None, "--audit-anchor", help="Audit checkpoint file, if the service keeps it outside --data-dir."
)


@fleet_app.command("admin")
@handle_errors
def admin_cmd(
    recover: bool = typer.Option(False, "--recover", help="Issue a new admin key (locked out)."),
    db: str = DB_OPT,
    data_dir: Path = DATA_OPT,
    name: str = typer.Option("recovered-admin", "--name", help="Name of the new key."),
    audit_key: Path | None = AUDIT_KEY_OPT,
    audit_anchor: Path | None = ANCHOR_OPT,
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """On the server, with shell access to its database and data folder: `--recover` issues a new admin
    key, prints it once and records the recovery in the audit log."""
    from physai.core.errors import ConfigError
    from physai.fleet.service import Fleet

    if not recover:
        raise ConfigError("nothing to do: `physai fleet admin --recover` issues a new admin key")
    fleet = Fleet(_server_config(db, data_dir, audit_key, audit_anchor))
    try:
        key = fleet.recover_admin(name)
    finally:
        fleet.close()
    if json_out:
        print_json({"key": key, "name": name})
    else:
        out.print("new admin key (shown once; the recovery is in the audit log):")
        print(key)


audit_app = typer.Typer(help="The service's audit log.", no_args_is_help=True)
fleet_app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
@handle_errors
def audit_verify_cmd(
    db: str = DB_OPT,
    data_dir: Path = DATA_OPT,
    audit_key: Path | None = AUDIT_KEY_OPT,
    audit_anchor: Path | None = ANCHOR_OPT,
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Check the audit hash chain and its signed checkpoint (read only); exit code 1 if tampered."""
    from physai.fleet.audit import verify_chain
    from physai.fleet.db import make_engine, session_factory
    from physai.fleet.service import audit_anchor as anchor_of

    cfg = _server_config(db, data_dir, audit_key, audit_anchor)
    anchor = anchor_of(cfg, create=False)
    engine = make_engine(db)
    try:
        with session_factory(engine)() as s:
            r = verify_chain(s, anchor)
    finally:
        engine.dispose()
    if json_out:
        print_json(r)
    elif r["ok"]:
        c = r["checkpoint"] or {}
        out.print(f"audit log intact: {r['entries']} entries; signed head at entry {c.get('last_id')}")
    else:
        out.print(f"[red]audit log TAMPERED[/red]: {r['reason']}")
    if not r["ok"]:
        raise typer.Exit(1)


@fleet_app.command("enroll")
@handle_errors
def enroll_cmd(
    server: str = typer.Option(..., "--server"),
    token: str = typer.Option(..., "--token", help="One-time enrollment token from an admin/operator."),
    name: str = typer.Option(..., "--name"),
    key_file: Path = typer.Option(..., "--key-file", help="Where to write the robot key (mode 0600)."),
    embodiment: str = typer.Option("", "--embodiment"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Exchange an enrollment token for this robot's API key."""
    from physai.fleet.agent import enroll

    r = enroll(server, token, name, key_file, embodiment=embodiment)
    if json_out:
        print_json(r)
    else:
        out.print(f"enrolled robot {r['robot_id']} at site {r['site_id']}; key in {r['key_file']}")


@fleet_app.command("agent")
@handle_errors
def agent_cmd(
    server: str = typer.Option(..., "--server"),
    key_file: Path = typer.Option(..., "--key-file"),
    robot: str = typer.Option("sim:tabletop/pick-place", "--robot", help="sim:<task>"),
    work_dir: Path = typer.Option(Path("fleet-agent"), "--work-dir"),
    episodes: int = typer.Option(5, "--episodes", help="Field episodes to run, then stop."),
    public_key: list[Path] = typer.Option([], "--public-key", help="Trusted package signing key(s)."),
    camera: list[str] = typer.Option([], "--camera", help="Camera to record as video (repeatable)."),
    image_size: int = typer.Option(64, "--image-size", help="Square camera image size (pixels)."),
    realtime: bool = typer.Option(True, "--realtime/--fast"),
    collaborative: bool = typer.Option(
        True, "--collaborative/--normal-speed", help="TCP speed cap 0.25 m/s (people nearby)."
    ),
    seed: int = typer.Option(0, "--seed"),
    max_steps: int = typer.Option(None, "--max-steps", min=1, help="Cap each episode's cycles."),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Run the robot agent: pull + verify the assigned package, run episodes, stream telemetry, upload."""
    from physai.fleet.agent import Agent, AgentConfig

    cfg = AgentConfig(
        server=server,
        key_file=key_file,
        robot=robot,
        work_dir=work_dir,
        trusted_keys=list(public_key),
        cameras=tuple(camera),
        image_size=image_size,
        realtime=realtime,
        collaborative=collaborative,
        seed=seed,
        **({"max_steps": max_steps} if max_steps else {}),
    )
    r = Agent(cfg).run(episodes, progress=None if json_out else RichProgress())
    if json_out:
        print_json(r)
    else:
        ok = sum(e["success"] for e in r["episodes"])
        out.print(
            f"{ok}/{len(r['episodes'])} episodes succeeded; online={r['online']}; "
            f"pending uploads {r['pending_episodes']}, pending telemetry {r['pending_telemetry']}"
        )


def flywheel_cmd(
    fleet: str = typer.Option(..., "--fleet", help="Fleet service URL."),
    key_file: Path = typer.Option(..., "--key-file", help="Admin/operator key file."),
    base_dataset: Path = typer.Option(..., "--base-dataset"),
    policy: Path = typer.Option(..., "--policy", help="Current run folder (runs/X) or its checkpoint."),
    sign_key: Path = typer.Option(..., "--sign-key", help="Private key to sign the new package."),
    site: int = typer.Option(1, "--site"),
    group: str = typer.Option("default", "--group"),
    task: str = typer.Option(None, "--task", help="Evaluation task (default: the policy's training task)."),
    work_dir: Path = typer.Option(Path("runs/flywheel"), "--work-dir"),
    steps: int = typer.Option(200, "--steps", help="Extra training steps."),
    eval_episodes: int = typer.Option(20, "--eval-episodes"),
    canary: int = typer.Option(10, "--canary", help="Canary percentage of the new deployment."),
    all_episodes: bool = typer.Option(
        False, "--all-episodes", help="Select every field episode, not only failures/interventions."
    ),
    intervention_weight: int = typer.Option(
        0, "--intervention-weight", min=0, help="DAgger: train on the human segments of intervened episodes, "
        "each written this many times (0: merge episodes whole)."
    ),
    interventions: list[Path] = typer.Option(
        [], "--interventions", help="Local `physai run --record` datasets to merge too (repeatable)."
    ),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """One flywheel turn: field failures -> dataset -> retrain -> eval gate -> sign -> canary. Resumable."""
    from physai.fleet.flywheel import FlywheelConfig, run_flywheel

    cfg = FlywheelConfig(
        fleet=fleet,
        key=key_file.read_text().strip(),
        base_dataset=base_dataset,
        policy=policy,
        sign_key=sign_key,
        site_id=site,
        group=group,
        task=task,
        work_dir=work_dir,
        steps=steps,
        eval_episodes=eval_episodes,
        canary_percent=canary,
        only_failures=not all_episodes,
        intervention_weight=intervention_weight,
        interventions=tuple(interventions),
    )
    r = run_flywheel(cfg, progress=None if json_out else RichProgress())
    if json_out:
        print_json(r)
    else:
        for name, st in r["steps"].items():
            out.print(f"{name:10s} {st['status']}")
        out.print(f"result: {r['result']}")


def register(app: typer.Typer) -> None:
    from physai.cli.fleet_ops import add_to

    add_to(fleet_app)
    app.add_typer(fleet_app, name="fleet")
    app.command("flywheel")(handle_errors(flywheel_cmd))
