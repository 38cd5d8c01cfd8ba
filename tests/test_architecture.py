"""The import graph of `physai` (static, with `ast`; function-level imports included): no circles between
modules, and every arrow between packages points down the layering of docs/ARCHITECTURE.md."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Bottom to top (docs/ARCHITECTURE.md, "Layers"): a package imports only packages of LOWER levels.
# Packages of one level do not import each other. A new package gets a line here.
LAYERS: list[tuple[str, ...]] = [
    ("core",),
    ("sim",),
    ("embodiments",),
    ("tasks",),
    ("envs",),
    ("data", "policies", "report"),
    ("train",),
    ("deploy",),
    ("field", "ros2", "teleop"),
    ("evaluate",),
    ("worldmodel",),
    ("hardware",),
    ("fleet",),
    ("demo",),
    ("cli",),
]
LEVEL = {pkg: i for i, level in enumerate(LAYERS) for pkg in level}


def module_files(src: Path = SRC) -> dict[str, Path]:
    """Dotted module name -> file, for every module of physai (packages by their __init__)."""
    out = {}
    for p in sorted((src / "physai").rglob("*.py")):
        parts = list(p.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = p
    return out


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The physai modules `name` imports anywhere in its file (top level, functions, TYPE_CHECKING)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def resolve(dotted: str) -> str | None:  # the longest prefix that is a physai module
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            # `from pkg import mod` imports the submodule; `from mod import name` the module
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        for t in targets:
            r = resolve(t) if t.startswith("physai") else None
            if r and r != name:
                found.add(r)
    return found


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    modules = module_files(src)
    return {m: imports_of(m, p, modules) for m, p in modules.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def upward_arrows(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for a, targets in sorted(graph.items()):
        pa = _package(a)
        for b in sorted(targets):
            pb = _package(b)
            if pa is None or pb is None or pa == pb:
                continue
            if LEVEL[pb] >= LEVEL[pa]:
                bad.append(f"{a} -> {b} ({pa} is level {LEVEL[pa]}, {pb} level {LEVEL[pb]})")
    return bad


GRAPH = import_graph()


def test_every_package_has_a_layer():
    packages = {_package(m) for m in GRAPH} - {None}
    missing = sorted(packages - set(LEVEL))
    assert not missing, f"packages without a layer: {missing}; add them to LAYERS (and docs/ARCHITECTURE.md)"


def test_no_import_circles():
    found = circles(GRAPH)
    assert not found, "import circles (move the shared part into its own module):\n" + "\n".join(
        " <-> ".join(c) for c in found
    )


def test_no_upward_arrows():
    bad = upward_arrows(GRAPH)
    assert not bad, "imports against the layering (docs/ARCHITECTURE.md):\n" + "\n".join(bad)


# ------------------------------------------------------------------ the checker itself can fail
def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / "physai" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def test_a_function_level_circle_is_found(tmp_path):
    src = _write(
        tmp_path,
        {
            "__init__.py": "",
            "deploy/__init__.py": "",
            "deploy/a.py": "def f():\n    from physai.deploy.b import g\n",
            "deploy/b.py": "from physai.deploy import a\n",
            "deploy/c.py": "from . import b\n",
        },
    )
    assert circles(import_graph(src)) == [["physai.deploy.a", "physai.deploy.b"]]


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("def f():\n    from physai.report.demo import stage\n", True),  # the old demo_stage arrow
        ("import physai.cli.main\n", True),
        ("from physai.core import errors\n", False),
    ],
)
def test_an_upward_arrow_is_found(tmp_path, text, bad):
    src = _write(
        tmp_path,
        {
            "__init__.py": "",
            "core/__init__.py": "",
            "core/errors.py": "",
            "report/__init__.py": "",
            "report/demo.py": "",
            "cli/__init__.py": "",
            "cli/main.py": "",
            "data/__init__.py": "",
            "data/x.py": text,
        },
    )
    assert bool(upward_arrows(import_graph(src))) is bad
