"""The shape of the code: no import cycle among the project's modules, registries beside their functions,
package ``__init__`` files that import only downward, no process started by an import, every module at
most ``MAX_LINES`` long and named in the README's file tree.

The import graph is read from the source (AST, nothing executed): module A depends on B when A imports B
or something from B, at any depth of A's code. A cycle is a set of modules that depend on each other.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO

PACKAGES = ("r1train", "rewards", "eval")
# scripts the sandbox copies into its box and runs there (they read /box/...): never imported on the host
IN_SANDBOX = {"rewards.sandbox.harness", "rewards.sandbox.tester"}
MAX_LINES = 400  # DESIGN.md: one file per concept, about 400 lines


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def dependencies(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports (``from pkg import mod`` counts ``pkg`` and ``pkg.mod``)."""
    out = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".")[: len(name.split(".")) - node.level + int(is_package)]
                base = ".".join(parts + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    # a -> b -> c -> a is one cycle; d -> a is not part of it
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_the_project() -> None:
    known = modules()
    graph = {name: dependencies(name, path, known) & set(known) for name, path in known.items()}
    assert cycles(graph) == []


def test_rewards_depend_on_nothing_of_ours() -> None:
    known = modules()
    for name, path in known.items():
        if name.split(".")[0] == "rewards":
            ours = {d.split(".")[0] for d in dependencies(name, path, known)}
            assert ours <= {"rewards"}, f"{name} imports {ours - {'rewards'}}"


def test_importing_every_rewards_module_starts_no_process() -> None:
    """Pools (the math workers, the sandbox) start on first use: ``r1train rewards`` or a countdown-only run
    must not start sympy worker processes."""
    names = [n for n in modules() if n.split(".")[0] == "rewards" and n not in IN_SANDBOX]
    code = (
        "import importlib, os, sys\n"
        f"for n in {names!r}: importlib.import_module(n)\n"
        "import rewards, time; rewards.names(); time.sleep(1.5)\n"
        "kids = open(f'/proc/{os.getpid()}/task/{os.getpid()}/children').read().split()\n"
        "print(len(kids))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "0"


def test_every_module_is_at_most_max_lines() -> None:
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}, f"split these along a concept boundary (at most {MAX_LINES} lines): {long}"


def test_every_module_is_in_the_readme_file_tree() -> None:
    # the tree's lines start with the path and a space: "rewards/sandbox/host.py   what this machine offers…"
    listed = {line.split(" ", 1)[0] for line in (REPO / "README.md").read_text().splitlines()}
    missing = sorted(str(p.relative_to(REPO)) for p in modules().values() if str(p.relative_to(REPO)) not in listed)
    assert missing == [], f"add a line for each to the README's file tree: {missing}"
