"""`physai export`, `physai keys generate`, `physai verify`, `physai run`, `physai serve`, `physai agent`."""

from __future__ import annotations

import signal
from pathlib import Path

import typer

from physai.cli.ui import (
    RichProgress,
    busy_port,
    console,
    existing,
    handle_errors,
    new_folder,
    out,
    positive,
    print_json,
)
from physai.cli.ui import (
    port as check_port,
)

keys_app = typer.Typer(help="Signing keys for model packages.", no_args_is_help=True)

PUBLIC_KEY = typer.Option(
    None, "--public-key", help="Trusted Ed25519 public key (PEM); also $PHYSAI_TRUSTED_KEYS."
)
ALLOW_UNSIGNED = typer.Option(
    False, "--allow-unsigned", help="Load a package without a signature (hashes checked)."
)
JSON = typer.Option(False, "--json", help="Print one JSON document.")


def register(app: typer.Typer) -> None:
    app.command("export")(export)
    app.add_typer(keys_app, name="keys")
    app.command("verify")(verify)
    app.command("run")(run)
    app.command("serve")(serve)
    app.command("agent")(agent)


def _kv(d: object) -> str:
    """`a=1 b=2` for a dict (never a Python repr in human output)."""
    if isinstance(d, dict):
        return " ".join(f"{k}={_kv(v) if isinstance(v, dict) else v}" for k, v in d.items()) or "none"
    return str(d)


def _load(package: Path, public_key: Path | None, allow_unsigned: bool, threads: int = 1):
    from physai.deploy.package import load_package
    from physai.deploy.signing import trusted_keys

    existing(package, "package", "dir")
    existing(public_key, "--public-key", "file")
    return load_package(package, trusted_keys(public_key), allow_unsigned=allow_unsigned, threads=threads)


@handle_errors
def export(
    policy: Path = typer.Option(..., "--policy", help="Checkpoint folder (runs/X/checkpoint) or run folder."),
    out_dir: Path = typer.Option(..., "--out", help="Package folder to write."),
    sign_key: Path = typer.Option(None, "--sign-key", help="Ed25519 private key (physai keys generate)."),
    int8: bool = typer.Option(False, "--int8", help="Quantize to INT8 if within tolerance of fp32."),
    int8_task: str = typer.Option(None, "--int8-task", help="Task for the INT8 closed-loop success check."),
    int8_episodes: int = typer.Option(50, "--int8-episodes", min=1),
    force: bool = typer.Option(False, "--force", help="Keep INT8 even outside tolerance."),
    no_batched: bool = typer.Option(False, "--no-batched", help="Skip the batched model variant."),
    json_out: bool = JSON,
) -> None:
    """Export a trained policy as an ONNX package (parity-checked, manifest, signature, model card)."""
    from physai.deploy.package import ExportConfig, export_checkpoint

    existing(policy, "--policy", "dir")
    existing(sign_key, "--sign-key", "file")
    new_folder(out_dir)
    cfg = ExportConfig(
        batched=not no_batched, int8=int8, int8_task=int8_task, int8_episodes=int8_episodes, force=force
    )
    rep = export_checkpoint(policy, out_dir, sign_key, cfg, RichProgress(enabled=not json_out))
    if json_out:
        print_json(rep)
        return
    if not rep["signed"]:
        console.print("[yellow]warning:[/yellow] the package is unsigned; loaders need --allow-unsigned")
    out.print(
        f"package {rep['path']}: {rep['precision']}, parity max |onnx - torch| = "
        f"{rep['parity']['max_abs_diff']:.2e}, signed={rep['signed']}"
    )


@keys_app.command("generate")
@handle_errors
def keys_generate(
    out_dir: Path = typer.Option(..., "--out", help="Folder for physai.key and physai.pub."),
    json_out: bool = JSON,
) -> None:
    """Create an Ed25519 key pair: DIR/physai.key (mode 0600) and DIR/physai.pub."""
    from physai.deploy.signing import generate_keys, key_id, load_public_key

    if out_dir.exists() and not out_dir.is_dir():
        from physai.core.errors import ConfigError

        raise ConfigError(f"--out {out_dir} is a file; give a folder for physai.key and physai.pub")
    priv, pub = generate_keys(out_dir)
    doc = {"private_key": str(priv), "public_key": str(pub), "key_id": key_id(load_public_key(pub))}
    if json_out:
        print_json(doc)
        return
    out.print(f"wrote {priv} (keep secret) and {pub} (key id {doc['key_id']})")


@handle_errors
def verify(
    package: Path = typer.Argument(..., help="Package folder."),
    public_key: Path = PUBLIC_KEY,
    allow_unsigned: bool = ALLOW_UNSIGNED,
    json_out: bool = JSON,
) -> None:
    """Verify a package's signature and every file hash (refuses any changed byte, naming the file)."""
    desc = _load(package, public_key, allow_unsigned).describe()
    if json_out:
        print_json({"ok": True, **desc})
        return
    out.print(
        f"[green]ok[/green] {package}: signed by {desc['signed_by'] or '(unsigned)'}, "
        f"{len(desc['files'])} files verified, embodiment {desc['embodiment']}"
    )


@handle_errors
def run(
    package: Path = typer.Option(..., "--package", help="Package folder."),
    robot: str = typer.Option(
        ..., "--robot", help="SCHEME:TARGET: sim:<suite/task>, tcp://HOST:PORT (robot agent), or another "
        "registered driver scheme."
    ),
    hz: float = typer.Option(
        None, "--hz", help="Control rate; must equal the package's (default: the package's)."
    ),
    duration: float = typer.Option(
        None, "--duration", help="Seconds to run (default: until the episode ends)."
    ),
    seed: int = typer.Option(0, "--seed", help="Episode seed (sim)."),
    collaborative: bool = typer.Option(
        True, "--collaborative/--normal-speed", help="TCP speed cap 0.25 m/s."
    ),
    safety_log: Path = typer.Option(None, "--safety-log", help="JSONL file of supervisor interventions."),
    token_file: Path = typer.Option(None, "--token-file", help="Token for a tcp:// robot agent."),
    rt_priority: int = typer.Option(None, "--rt-priority", help="SCHED_FIFO priority of the control thread."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Read the robot, run the policy and the supervisor, log the commands "
        "instead of sending them (drivers that support it, e.g. ros2:)."
    ),
    record: Path = typer.Option(
        None, "--record", help="Record the session to this new .mcap file (ROS 2 messages: observations, "
        "actions before/after the supervisor, interventions, timing)."
    ),
    execution: str = typer.Option(
        None, "--execution", help="Execution mode overriding the package's: sync | queue | ensemble | rtc, "
        "optionally :HORIZON (e.g. rtc:8)."
    ),
    intervene: str = typer.Option(
        None, "--intervene", help="Teleop sources that may take over (comma-separated, first wins): "
        "keyboard, "
        "browser, gamepad, spacemouse, or expert (sim: the task's expert when the policy strays)."
    ),
    record_dataset: Path = typer.Option(
        None, "--record-dataset", help="Record the episode as a LeRobot v3 dataset in this folder, each step "
        "marked policy/human/hold (sim robots; with --intervene)."
    ),
    teleop_port: int = typer.Option(8765, "--teleop-port", help="Port of the browser teleop page."),
    public_key: Path = PUBLIC_KEY,
    allow_unsigned: bool = ALLOW_UNSIGNED,
    json_out: bool = JSON,
) -> None:
    """Run a package on a robot at a fixed rate with the safety supervisor in the loop (Ctrl-C = e-stop)."""
    from physai.deploy.drivers.schemes import DriverOptions, open_driver
    from physai.deploy.runtime import Runtime, RuntimeConfig
    from physai.deploy.safety import SupervisorConfig

    positive(hz, "--hz")
    positive(duration, "--duration")
    existing(token_file, "--token-file", "file")
    if rt_priority is not None and not 1 <= rt_priority <= 99:
        from physai.core.errors import ConfigError

        raise ConfigError(f"--rt-priority must be between 1 and 99, got {rt_priority}")
    pkg = _load(package, public_key, allow_unsigned)
    token = token_file.read_text().strip() if token_file else None
    driver = open_driver(robot, pkg.contract, DriverOptions(seed=seed, token=token, dry_run=dry_run))
    if dry_run and not getattr(driver, "dry_run", False):
        from physai.core.errors import ConfigError

        raise ConfigError(f"--dry-run: the driver of {robot} cannot dry-run (it would send the commands); "
                          "use a driver that supports it (ros2:CONFIG.yaml) or drop --dry-run")
    cfg = RuntimeConfig(
        hz=hz,
        duration=duration,
        rt_priority=rt_priority,
        execution=execution,
        supervisor=SupervisorConfig(collaborative=collaborative, log_path=safety_log),
    )
    arbiter, observers = _intervention(intervene, record_dataset, teleop_port, driver, robot)
    recorder = None
    if record is not None:
        from physai.core.errors import ConfigError
        from physai.field.mcap_record import McapRecorder

        if record.exists():
            raise ConfigError(
                f"--record {record} exists; choose a new file (recordings are never overwritten)"
            )
        recorder = McapRecorder(record)
        observers.append(recorder)
    rt = Runtime(pkg, driver, cfg, observers=observers, arbiter=arbiter)
    # robot faults (reflex, lost connection) -> a protective stop with the reason
    if hasattr(driver, "on_fault"):
        driver.on_fault = lambda rule, why: rt.supervisor.fault(rule, why) if rt.supervisor else None
    previous = signal.signal(signal.SIGINT, lambda *_: rt.estop("SIGINT (operator)"))
    try:
        rep = rt.run()
    finally:
        signal.signal(signal.SIGINT, previous)
        rec = recorder.close() if recorder is not None else None  # every exit path: nothing recorded is lost
        for ob in observers:
            if ob is not recorder and hasattr(ob, "close"):
                ob.close()
    if rec is not None:
        rep["record"] = rec
    for ob in observers:
        if getattr(ob, "episode_index", None) is not None:
            rep["recorded"] = {"dataset": str(ob.root), "episode_index": ob.episode_index, "steps": ob.steps}
    if json_out:
        print_json(rep)
        return
    t, s = rep["timing"], rep["safety"]
    inf = rep["inference"]
    out.print(
        f"{rep['cycles']} cycles at {rep['hz']:g} Hz: success={rep['success']} "
        f"jitter p99 {t['jitter_p99_ms']:.3f} ms, deadline misses {t['deadline_miss_rate']:.2%}, "
        f"inference p99 {inf['latency_p99_ms']:.2f} ms, execution {rep['execution']['mode']}"
    )
    out.print(
        f"safety: {s['state']}" + (f" ({s['stop_reason']})" if s["stop_reason"] else "")
        + f", interventions: {_kv(s['interventions'])}"
    )
    if recorder is not None:
        out.print(
            f"recorded {rec['cycles']} cycles ({rec['messages']} messages, {rec['dropped']} dropped) -> "
            f"{rec['path']}"
        )
    if "control" in rep:
        takeovers = sum(1 for e in rep["control"]["events"] if e["event"] == "granted")
        out.print(f"control: {_kv(rep['control']['steps'])} steps, {takeovers} takeovers")
    if "recorded" in rep:
        out.print(f"recorded episode {rep['recorded']['episode_index']} into {rep['recorded']['dataset']}")


def _intervention(intervene: str | None, record: Path | None, port: int, driver, robot: str):
    """The arbiter and observers of `physai run --intervene ... --record ...`."""
    observers: list = []
    arbiter = None
    if intervene:
        from physai.cli.teleop import split_names
        from physai.teleop.arbiter import ActionArbiter
        from physai.teleop.record import SourceDisplay
        from physai.teleop.run import open_sources

        sources = open_sources(split_names(intervene), engaged=False, port=port)
        arbiter = ActionArbiter(sources)
        observers.append(SourceDisplay(sources, arbiter))
        for s in sources:
            if s.name == "keyboard":
                console.print("keyboard: t takes over / hands back; w/s a/d r/f move; space: gripper")
            if s.name == "browser":
                url = f"http://127.0.0.1:{port}/"
                console.print(f"teleop page: {url} (take over from there)", highlight=False)
    if record is not None:
        from physai.teleop.record import InterventionRecorder

        if record.exists() and not record.is_dir():
            from physai.core.errors import ConfigError

            raise ConfigError(f"--record-dataset {record} is a file; give a dataset folder")
        task = robot.split(":", 1)[1] if robot.startswith("sim:") else None
        observers.append(InterventionRecorder(record, driver, task))
    return arbiter, observers


def read_tokens(path: Path) -> tuple[str, ...]:
    """Client tokens from a token file: one a line, surrounding whitespace and blank lines ignored."""
    tokens = tuple(t.strip() for t in path.read_text().splitlines() if t.strip())
    if not tokens:
        raise ValueError(f"token file {path} is empty; write one client token a line")
    return tokens


@handle_errors
def serve(
    package: Path = typer.Option(..., "--package", help="Package folder."),
    port: int = typer.Option(8000, "--port"),
    host: str = typer.Option(
        None, "--host", help="Bind address (default 0.0.0.0 with a token, else 127.0.0.1)."
    ),
    token_file: Path = typer.Option(
        None, "--token-file", help="File of client tokens, one a line (e.g. one per robot)."
    ),
    insecure_local: bool = typer.Option(False, "--insecure-local", help="No token; loopback only."),
    max_batch: int = typer.Option(16, "--max-batch", min=1),
    max_wait_ms: float = typer.Option(2.0, "--max-wait-ms", min=0.0),
    rate_limit: float = typer.Option(500.0, "--rate-limit", help="Requests/s per connection."),
    max_connections_per_token: int = typer.Option(
        None,
        "--max-connections-per-token",
        min=1,
        help="Connections one token may hold (default: the 256 shared evenly among the tokens).",
    ),
    execution: str = typer.Option(
        None, "--execution", help="Execution mode overriding the package's: sync | queue | ensemble | rtc, "
        "optionally :HORIZON (e.g. rtc:8)."
    ),
    public_key: Path = PUBLIC_KEY,
    allow_unsigned: bool = ALLOW_UNSIGNED,
) -> None:
    """Serve a package over websocket (openpi msgpack-numpy protocol) with dynamic batching."""
    import asyncio
    import threading

    from physai.deploy.server import PolicyServer, ServerConfig

    check_port(port)
    positive(rate_limit, "--rate-limit", allow_none=False)
    existing(token_file, "--token-file", "file")
    tokens = read_tokens(token_file) if token_file else ()
    pkg = _load(package, public_key, allow_unsigned, threads=2)
    cfg = ServerConfig(
        host=host or ("0.0.0.0" if tokens else "127.0.0.1"),
        port=port,
        tokens=tokens,
        insecure_local=insecure_local,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        rate_limit_hz=rate_limit,
        max_connections_per_token=max_connections_per_token,
        execution=execution,
    )
    server = PolicyServer(pkg, cfg)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        ready = threading.Event()
        task = asyncio.create_task(server.serve(stop, ready))
        while not ready.is_set() and not task.done():  # say "serving" only once the port is bound
            await asyncio.sleep(0.01)
        if task.done():
            await task
            return
        console.print(
            f"serving {package} on ws://{cfg.host}:{server.port} (tokens: {len(tokens) or 'none'}); "
            "Ctrl-C stops", highlight=False
        )
        await task

    try:
        asyncio.run(main())
    except OSError as exc:
        raise busy_port(exc, cfg.host, port) from None
    console.print(f"stopped; {_kv(server.stats)}", highlight=False)


@handle_errors
def agent(
    robot: str = typer.Option(..., "--robot", help="Local driver to expose, e.g. sim:tabletop/pick-place."),
    port: int = typer.Option(7070, "--port"),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Bind address; anything but loopback requires --token-file."
    ),
    hz: float = typer.Option(None, "--hz"),
    token_file: Path = typer.Option(None, "--token-file", help="Shared token the runtime must present."),
    handshake_timeout: float = typer.Option(
        2.0, "--handshake-timeout", min=0.01, help="Seconds a client has to send its hello."
    ),
) -> None:
    """Robot-side agent: expose a local driver to a remote `physai run --robot tcp://HOST:PORT`."""
    import threading

    from physai.core.errors import ConfigError, PhysaiError
    from physai.deploy.drivers import DriverAgent, make_driver

    check_port(port)
    positive(hz, "--hz")
    existing(token_file, "--token-file", "file")
    token = token_file.read_text().strip() if token_file else None
    if token_file and not token:
        raise ConfigError(f"token file {token_file} is empty; write the shared token into it")
    driver = make_driver(robot, hz=hz)
    try:
        ag = DriverAgent(driver, host, port, token=token, handshake_timeout=handshake_timeout).start()
    except OSError as exc:
        raise busy_port(exc, host, port) from None
    console.print(f"robot agent for {robot} on {ag.address[0]}:{ag.address[1]}; Ctrl-C stops")
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    try:
        while not done.wait(0.5):
            if not ag.serving:  # never expected; do not pretend to serve when the accept loop is gone
                last = (list(ag.errors) or ["no error recorded"])[-1]
                raise PhysaiError(f"the robot agent stopped serving: {last}")
    finally:
        ag.close()
