"""No traceback for a user mistake: every command driven with wrong types, zero/negative numbers, missing
and existing paths and a busy port exits non-zero with a short error (never an uncaught exception)."""

from __future__ import annotations

import json
import socket

import pytest
from typer.testing import CliRunner

from physai.cli.main import app

runner = CliRunner()
TASK = "tabletop/pick-place"
OTHER = "bimanual/handover"  # another robot's task


@pytest.fixture(scope="module")
def art(tmp_path_factory) -> dict:
    """A 1-episode dataset, a 2-step mlp checkpoint, keys, a signed package and a busy port."""
    d = tmp_path_factory.mktemp("art")
    ds, run, keys, pkg = d / "ds", d / "run", d / "keys", d / "pkg"
    for argv in (
        ["collect", "--task", TASK, "--episodes", "1", "--cameras", "none", "--out", str(ds)],
        ["collect", "--task", OTHER, "--episodes", "1", "--cameras", "none", "--out", str(d / "ds2")],
        ["train", "--policy", "mlp", "--dataset", str(ds), "--steps", "2", "--batch-size", "8",
         "--save-every", "0", "--out", str(run)],
        ["keys", "generate", "--out", str(keys)],
        ["export", "--policy", str(run / "checkpoint"), "--out", str(pkg), "--sign-key",
         str(keys / "physai.key"), "--no-batched"],
    ):
        r = runner.invoke(app, argv)
        assert r.exit_code == 0, (argv, r.output)
    (d / "file.txt").write_text("x")
    (d / "empty.txt").write_text("")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    free_port = str(free.getsockname()[1])
    free.close()  # nothing listens there: connections are refused
    yield {"d": d, "ds": ds, "ds2": d / "ds2", "ck": run / "checkpoint", "run": run, "keys": keys, "pkg": pkg,
           "pub": keys / "physai.pub", "file": d / "file.txt", "empty": d / "empty.txt",
           "missing": d / "missing", "port": str(sock.getsockname()[1]),
           "free_port": free_port}
    sock.close()


def _cases(a: dict) -> list[tuple[list[str], str]]:
    """(argv, a word the error must contain)."""
    ds, ck, pkg, pub, f, missing = (str(a[k]) for k in ("ds", "ck", "pkg", "pub", "file", "missing"))
    new = str(a["d"] / "new")  # never created: every case fails before writing an output
    train = ["train", "--policy", "mlp", "--dataset", ds, "--out", new, "--steps", "1"]
    ev = ["eval", "--policy", "random", "--tasks", TASK, "--out", new, "--episodes", "1", "--max-steps", "2",
          "--workers", "0"]
    run = ["run", "--package", pkg, "--robot", f"sim:{TASK}", "--public-key", pub]
    prof = ["profile", "--package", pkg, "--public-key", pub, "--out", new,
            "--duration", "0.05", "--hz", "50", "--batches", "1"]
    serve = ["serve", "--package", pkg, "--insecure-local", "--public-key", pub]
    return [
        # sim
        (["rollout", "--task", "tabletop/nope"], "valid tasks"),
        (["rollout", "--task", TASK, "--episodes", "0"], "--episodes"),
        (["rollout", "--task", TASK, "--episodes", "abc"], "--episodes"),
        (["rollout", "--task", TASK, "--policy", "nope"], "policy"),
        (["rollout", "--task", TASK, "--control", "nope"], "control"),
        (["rollout", "--task", TASK, "--episodes", "1", "--video", f], ".mp4"),
        (["rollout", "--task", TASK, "--episodes", "1", "--video-size", "0x0"], "--video-size"),
        # collect
        (["collect", "--task", "tabletop/nope", "--out", new], "valid tasks"),
        (["collect", "--task", TASK, "--out", ds], "exists"),
        (["collect", "--task", TASK, "--out", new, "--episodes", "0"], "--episodes"),
        (["collect", "--task", TASK, "--out", new, "--workers", "0"], "--workers"),
        (["collect", "--task", TASK, "--out", new, "--max-steps", "0"], "--max-steps"),
        (["collect", "--task", TASK, "--out", new, "--cameras", "nope"], "camera"),
        (["collect", "--task", TASK, "--out", new, "--codec", "nope"], "codec"),
        # dataset
        (["dataset", "info", missing], "missing"),
        (["dataset", "validate", missing], "missing"),
        (["dataset", "repair", missing], "missing"),
        (["dataset", "merge", ds, missing, "--out", new], "missing"),
        (["dataset", "merge", ds, ds, "--out", ds], "exists"),
        (["dataset", "merge", ds, str(a["ds2"]), "--out", new], "robot mismatch"),
        (["dataset", "split", ds, "--out", new, "--val", "1.5"], "--val"),
        (["dataset", "split", ds, "--out", new, "--val", "-0.1"], "--val"),
        (["dataset", "split", ds, "--out", ds], "exists"),
        (["dataset", "split", ds, "--out", new], "no episodes"),  # 1 episode: val empty, no partial output
        (["dataset", "convert", missing], "missing"),
        (["dataset", "view", ds, "--episodes", "abc"], "--episodes"),
        (["dataset", "view", missing], "missing"),
        # train
        ([*train, "--set", "hidden_dim=abc"], "hidden_dim"),
        ([*train, "--set", "no_such_field=1"], "no_such_field"),
        ([*train, "--set", "hidden_dim"], "KEY=VALUE"),
        ([*train, "--minutes", "0"], "--minutes"),
        ([*train, "--minutes", "-1"], "--minutes"),
        ([*train, "--steps", "0"], "--steps"),
        ([*train, "--batch-size", "0"], "--batch-size"),
        ([*train, "--lr", "0"], "--lr"),
        ([*train, "--lr", "abc"], "--lr"),
        ([*train, "--threads", "0"], "--threads"),
        ([*train, "--device", "nope"], "device"),
        (["train", "--policy", "nope", "--dataset", ds, "--out", new], "valid policies"),
        ([*train, "--dataset", str(a["ds2"])], "robot mismatch"),
        (["train", "--policy", "mlp", "--dataset", missing, "--out", new], "missing"),
        (["train", "--policy", "mlp", "--dataset", ds, "--out", f], "file.txt"),
        # eval
        (["eval", "--policy", missing, "--out", new], "missing"),
        (["eval", "--policy", ck, "--tasks", OTHER, "--out", new], "robot mismatch"),
        (["eval", "--policy", ck, "--tasks", "quadruped/patrol", "--out", new], "robot mismatch"),
        (["eval", "--policy", "random", "--tasks", "tabletop/nope", "--out", new], "valid tasks"),
        ([*ev, "--episodes", "0"], "--episodes"),
        ([*ev, "--workers", "abc"], "--workers"),
        ([*ev, "--workers", "-1"], "--workers"),
        ([*ev, "--backend", "nope"], "--backend"),
        ([*ev, "--max-steps", "0"], "--max-steps"),
        ([*ev, "--episode-timeout", "-1"], "--episode-timeout"),
        ([*ev, "--token-file", missing], "missing"),
        ([*ev, "--control", "nope"], "control"),
        (["eval", "--policy", f"ws://127.0.0.1:{a['free_port']}", "--tasks", TASK, "--out", new],
         "127.0.0.1"),
        (["eval", "compare", missing, missing], "missing"),
        (["eval", "compare", f, f], "file.txt"),
        (["eval", "compare", missing, missing, "--alpha", "2"], "--alpha"),
        # deploy
        (["export", "--policy", missing, "--out", new], "missing"),
        (["export", "--policy", ck, "--out", pkg], "exists"),
        (["export", "--policy", ck, "--out", new, "--sign-key", missing], "missing"),
        (["keys", "generate", "--out", f], "file.txt"),
        (["keys", "generate", "--out", str(a["keys"])], "exists"),
        (["verify", missing], "missing"),
        (["verify", pkg], "key"),
        (["verify", pkg, "--public-key", missing], "missing"),
        (["verify", pkg, "--public-key", f], "file.txt"),
        ([*run, "--hz", "0"], "--hz"),
        ([*run, "--hz", "-5"], "--hz"),
        ([*run, "--hz", "abc"], "--hz"),
        ([*run, "--hz", "7"], "Hz"),
        ([*run, "--duration", "-1"], "--duration"),
        ([*run, "--duration", "0"], "--duration"),
        (["run", "--package", pkg, "--robot", "sim:tabletop/nope", "--public-key", pub], "valid tasks"),
        (["run", "--package", pkg, "--robot", f"sim:{OTHER}", "--public-key", pub], "robot mismatch"),
        (["run", "--package", pkg, "--robot", "sim:quadruped/patrol", "--public-key", pub], "robot mismatch"),
        (["run", "--package", pkg, "--robot", "nope", "--public-key", pub], "robot"),
        ([*run, "--token-file", missing], "missing"),
        (["run", "--package", pkg, "--robot", f"tcp://127.0.0.1:{a['free_port']}", "--public-key", pub],
         "127.0.0.1"),
        ([*serve, "--port", a["port"]], "port"),
        ([*serve, "--port", "-1"], "--port"),
        ([*serve, "--port", "70000"], "--port"),
        ([*serve, "--token-file", missing], "missing"),
        ([*serve, "--token-file", str(a["empty"])], "empty"),
        ([*serve, "--rate-limit", "0"], "--rate-limit"),
        (["agent", "--robot", "nope"], "robot"),
        (["agent", "--robot", f"sim:{TASK}", "--port", a["port"]], "port"),
        (["agent", "--robot", f"sim:{TASK}", "--port", "70000"], "--port"),
        (["agent", "--robot", f"sim:{TASK}", "--hz", "0"], "--hz"),
        (["agent", "--robot", f"sim:{TASK}", "--token-file", missing], "missing"),
        # hardware
        ([*prof, "--devices", "ort:gpu"], "ort:gpu"),
        ([*prof, "--devices", "nope"], "nope"),
        ([*prof, "--hz", "0"], "--hz"),
        ([*prof, "--hz", "abc"], "--hz"),
        ([*prof, "--duration", "0"], "--duration"),
        ([*prof, "--batches", "0"], "--batches"),
        ([*prof, "--batches", "1.5"], "--batches"),
        ([*prof, "--threads", "0"], "--threads"),
        (["profile", "--package", missing, "--out", new], "missing"),
        # demo
        (["demo", "--out", new, "--stages", "nope"], "nope"),
    ]


def test_every_mistake_is_one_short_error(art):
    bad = []
    for argv, word in _cases(art):
        r = runner.invoke(app, argv)
        text = r.output
        if (a := art["d"] / "new").exists():
            bad.append(f"{' '.join(argv)}: wrote {a}")
            import shutil

            shutil.rmtree(a)
        crashed = r.exception is not None and not isinstance(r.exception, SystemExit)
        problems = []
        if crashed or "Traceback" in text:
            problems.append(f"uncaught {r.exception!r}")
        if r.exit_code == 0:
            problems.append("exit 0")
        if word.lower() not in text.lower():
            problems.append(f"error does not mention {word!r}")
        if "serving" in text:
            problems.append("said it was serving")
        errors = [ln for ln in text.splitlines() if ln.startswith("error:")]
        if not errors and "Usage:" not in text:
            problems.append("no 'error:' line")
        if problems:
            bad.append(f"{' '.join(argv)}: {problems}\n{text[-600:]}")
    assert not bad, f"{len(bad)} bad-input cases misbehave:\n" + "\n".join(bad)


def test_json_mode_errors_are_not_on_stdout(art):
    r = runner.invoke(app, ["eval", "compare", str(art["missing"]), str(art["missing"]), "--json"])
    assert r.exit_code != 0
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.stdout)
