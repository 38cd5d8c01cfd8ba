"""`physai devices` and `physai profile`."""

from __future__ import annotations

from pathlib import Path

import typer

from physai.cli.ui import RichProgress, console, handle_errors, out, print_json


def register(app: typer.Typer) -> None:
    app.command("devices")(devices)
    app.command("profile")(profile)


@handle_errors
def devices(json_out: bool = typer.Option(False, "--json", help="Print one JSON document.")) -> None:
    """List the devices physai can run packages on (built-ins and `physai.devices` plugins), with versions,
    and why the others are unavailable."""
    from physai.hardware.discovery import list_devices

    doc = list_devices()
    if json_out:
        print_json(doc)
        return
    for d in doc["devices"]:
        if d["available"]:
            out.print(
                f"[green]available[/green]  {d['device']:<16} {d['version']}  "
                f"precisions={','.join(d['capabilities']['precisions'])}"
            )
        else:
            out.print(f"[red]missing[/red]    {d['device']:<16} {d['reason']}")
    for origin, err in doc["plugin_errors"].items():
        console.print(f"[yellow]plugin failed to load[/yellow] {origin}: {err}")


def _floats(text: str, what: str) -> list[float]:
    from physai.core.errors import ConfigError

    try:
        vals = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{what} {text!r}: give comma-separated numbers, e.g. 50,200,1000") from None
    if not vals or any(v <= 0 for v in vals):
        raise ConfigError(f"{what} {text!r}: give positive comma-separated numbers")
    return vals


@handle_errors
def profile(
    package: Path = typer.Option(..., "--package", help="Package folder (physai export)."),
    devices_: str = typer.Option(
        "ort:cpu,torch:cpu",
        "--devices",
        help="Comma-separated device ids; 'dev@int8' for a precision (see `physai devices`). The command "
        "fails (exit 1) when a device cannot run the package.",
    ),
    hz: str = typer.Option("50,200,1000", "--hz", help="Control rates for ControlLoop/Chunked."),
    duration: float = typer.Option(20.0, "--duration", min=0.01, help="Seconds per measurement."),
    out_dir: Path = typer.Option(..., "--out", help="Folder for profile.json, profile.html and the cache."),
    batches: str = typer.Option("1,4,16,64", "--batches", help="Throughput batch sweep."),
    threads: int = typer.Option(1, "--threads", min=1, help="Intra-op threads of CPU runtimes."),
    grid_intensity: str = typer.Option(
        None, "--grid-intensity",
        help="Grid carbon intensity for the gCO2e figures: gCO2e/kWh, or a region[:year] of the table "
        "(default KR, latest); the region used is printed and in the report."
    ),
    realtime: bool = typer.Option(
        False, "--realtime", help="Run the timed loops under SCHED_FIFO if permitted."
    ),
    public_key: Path = typer.Option(None, "--public-key", help="Trusted Ed25519 public key (PEM)."),
    allow_unsigned: bool = typer.Option(False, "--allow-unsigned", help="Profile an unsigned package."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Profile a package on devices: latency, control-loop deadline misses, chunking, throughput, memory,
    accuracy, energy and carbon; writes profile.json and profile.html."""
    from physai.cli.ui import existing
    from physai.core.errors import ConfigError
    from physai.deploy.signing import trusted_keys
    from physai.hardware.carbon import resolve
    from physai.hardware.profiler import ProfileConfig, run_profile

    existing(package, "--package", "dir")
    existing(public_key, "--public-key", "file")
    batch_sizes = _floats(batches, "--batches")
    if any(b != int(b) for b in batch_sizes):
        raise ConfigError(f"--batches {batches!r}: give whole batch sizes, e.g. 1,4,16,64")
    device_ids = [d.strip() for d in devices_.split(",") if d.strip()]
    if not device_ids:
        raise ConfigError("--devices is empty; give device ids from `physai devices`, e.g. ort:cpu")
    from physai.hardware.discovery import list_devices

    known = {d["device"]: d for d in list_devices()["devices"]}
    for dev in device_ids:
        name = dev.split("@", 1)[0]
        if name not in known:
            raise ConfigError(f"--devices: unknown device {name!r}; devices here: {sorted(known)} "
                              "(see `physai devices`)")
        if not known[name]["available"]:
            raise ConfigError(f"--devices: {name} is not available here: {known[name]['reason']}")
    cfg = ProfileConfig(
        devices=device_ids,
        rates_hz=_floats(hz, "--hz"),
        duration_s=duration,
        batches=[int(b) for b in batch_sizes],
        threads=threads,
        grid=resolve(grid_intensity),
        realtime=realtime,
    )
    doc = run_profile(
        package,
        cfg,
        out_dir,
        trusted_keys(public_key),
        allow_unsigned=allow_unsigned,
        progress=RichProgress(enabled=not json_out),
    )
    failed = [d for d in doc["devices"] if d["status"] != "ok"]
    if json_out:
        print_json(doc)
    else:
        rates = ",".join(f"{r:g}" for r in cfg.rates_hz)
        for d in doc["devices"]:
            if d["status"] != "ok":
                console.print(f"[red]error:[/red] {d['device']}: {' '.join(str(d['error']).split())}",
                              highlight=False)
                continue
            ss, v, e = d["single_stream"], d["verdict"], d["energy"]
            best = v["max_sustained_hz"]
            sustained = (f"max sustained {best:g} Hz" if best is not None
                         else f"sustains none of {rates} Hz (miss rate > {v['miss_target']:.0%})")
            out.print(
                f"{d['device']:<16} p50 {ss['p50_us']:.1f} us  p99 {ss['p99_us']:.1f} us  "
                f"{sustained}  {e['j_per_inference'] * 1e3:.4f} mJ/inf "
                f"({e['method']})  {e['g_co2e_per_hour']:.4f} gCO2e/h", highlight=False
            )
        g = doc.get("grid_intensity") or {}
        if g:
            year = f" {g['year']}" if g.get("year") else ""
            out.print(f"carbon: grid {g['region']}{year} at {g['g_per_kwh']:g} gCO2e/kWh ({g['source']}); "
                      "--grid-intensity REGION[:YEAR] or g/kWh to change", highlight=False)
        out.print(f"report: {doc['files']['html']}")
    if failed:
        raise typer.Exit(code=1)
