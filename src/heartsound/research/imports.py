"""The import graph of the package, every import counted (those inside functions too).

Three rooms, one direction: the runtime (``heartsound.*``) imports nothing from training or
research; training (``heartsound.training``) imports the runtime only; research imports
both. The product command (``heartsound.cli``) is the one runtime module that reaches into
training, for its ``train`` command, and only inside that command. ``heartsound-lab
imports`` prints the graph; a test enforces the rules and the absence of cycles.
"""

from __future__ import annotations

import argparse
import ast
from importlib import resources
from pathlib import Path

ROOMS = ("runtime", "training", "research")
ALLOWED = {"runtime": {"runtime"}, "training": {"runtime", "training"},
           "research": {"runtime", "training", "research"}}
# The product CLI's train command (it imports heartsound.training.train inside cmd_train).
EXCEPTIONS = {("heartsound.cli", "training")}


def package_root() -> Path:
    return Path(str(resources.files("heartsound")))


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ("training", "research") else "runtime"


def imports_of(path: Path, module: str, known: set[str]) -> set[str]:
    """The package modules that ``path`` imports anywhere in its body."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for name in names:
            while name and name not in known:  # heartsound.x.func → heartsound.x
                name = name.rpartition(".")[0]
            if name and name != module and name.startswith("heartsound"):
                found.add(name)
    return found


def graph(root: Path | None = None) -> dict[str, set[str]]:
    """{module: the package modules it imports}, for every module under ``root``."""
    root = root or package_root()
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    known = set(files)
    edges = {m: imports_of(p, m, known) for m, p in files.items()}
    return edges


def violations(edges: dict[str, set[str]]) -> list[str]:
    """Every import against the rooms' direction, as one line each."""
    out = []
    for m, targets in sorted(edges.items()):
        for t in sorted(targets):
            if room(t) not in ALLOWED[room(m)] and (m, room(t)) not in EXCEPTIONS:
                out.append(f"{m} ({room(m)}) imports {t} ({room(t)})")
    return out


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
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

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def imports_command(args: argparse.Namespace) -> int:
    edges = graph()
    for r in ROOMS:
        print(f"# {r}")
        for m in sorted(m for m in edges if room(m) == r):
            short = sorted(t.removeprefix("heartsound.") for t in edges[m])
            print(f"{m.removeprefix('heartsound.') or 'heartsound'} -> "
                  f"{', '.join(short) or '(nothing)'}")
        print()
    bad, loops = violations(edges), cycles(edges)
    for line in bad:
        print(f"against the direction: {line}")
    for loop in loops:
        print(f"cycle: {' <-> '.join(loop)}")
    print(f"{len(edges)} modules, {sum(map(len, edges.values()))} imports, "
          f"{len(bad)} against the direction, {len(loops)} cycles")
    return 1 if bad or loops else 0
