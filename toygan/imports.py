"""The package's import graph and its layer contract, read from the source (every import,
the lazy ones inside functions included; those under `if TYPE_CHECKING:` are annotations,
never run, and left out), so that anyone can see how the code hangs
together and CI can hold it to one direction:

    python -m toygan.imports               # layers, the imports between them, any problem
    python -m toygan.imports --edges       # every module -> module import
    python -m toygan.imports --root DIR    # the package in another checkout (DIR/toygan)

The contract: each module belongs to the first layer of LAYERS whose prefix it has, and
imports only modules of its own layer or of the layers before it; and no two modules
import each other, directly or round a longer loop (no cycle, lazy imports included).
Exit status 1 when the contract is broken (tests/test_imports.py runs this in CI).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from pathlib import Path

from .cli import CommandParser, UsageError, fail

# Lowest first. A prefix names a subpackage (toygan.core covers toygan.core.nn.mlp) or a
# module; the commands (run, plot, ...) and the package's __init__ are the top layer.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("core", ("toygan.core",)),
    ("base", ("toygan.config", "toygan.runfiles", "toygan.interrupts", "toygan.resources",
              "toygan.cli")),
    ("device", ("toygan.device",)),
    ("gan", ("toygan.gan",)),
    ("training", ("toygan.training",)),
    ("figures", ("toygan.figures",)),
    ("claims", ("toygan.claims",)),
    ("peers", ("toygan.peers",)),
    ("sweeps", ("toygan.sweeps",)),
    ("commands", ("toygan",)),
)


def module_files(root: Path) -> dict[str, Path]:
    """Every module of the package under root/toygan: {dotted name: file}."""
    package = root / "toygan"
    modules = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[:2] == ("toygan", "kernels"):  # the CUDA sources, installed as a package
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement that can run, at the top or inside a function (lazy), but
    not under `if TYPE_CHECKING:` (annotations only: never executed)."""
    found: list[ast.Import | ast.ImportFrom] = []

    def walk(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for orelse in child.orelse:
                    walk(orelse)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append(child)
            walk(child)

    walk(tree)
    return found


def imports_of(module: str, path: Path, modules: Iterable[str]) -> set[str]:
    """The package's modules that `module` imports, anywhere in its source."""
    known = set(modules)
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in _runtime_imports(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            source = _absolute(module, is_package, node)
            # `from pkg import mod` imports the module pkg.mod (pkg itself is initialised
            # first by any import of one of its modules: not an edge); `from mod import
            # name` imports mod.
            submodules = [f"{source}.{a.name}" for a in node.names
                          if f"{source}.{a.name}" in known]
            targets = submodules or [source]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != module and target in known:
                found.add(target)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    modules = module_files(root)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def layer_of(module: str) -> int:
    for i, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return i
    raise ValueError(f"{module} is in no layer")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph) + 100))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def upward_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Imports from a module to one of a later layer: what the contract forbids."""
    return sorted((a, b) for a, targets in graph.items() for b in targets
                  if layer_of(b) > layer_of(a))


def problems(graph: dict[str, set[str]]) -> list[str]:
    out = [f"import cycle: {' <-> '.join(c)}" for c in cycles(graph)]
    out += [f"{a} ({LAYERS[layer_of(a)][0]}) imports {b} ({LAYERS[layer_of(b)][0]}), a later "
            "layer" for a, b in upward_imports(graph)]
    return out


def report(graph: dict[str, set[str]], edges: bool) -> str:
    lines = []
    if edges:
        lines += [f"{a} -> {', '.join(sorted(b)) or '(nothing)'}" for a, b in sorted(graph.items())]
        lines.append("")
    try:
        layered = {m: layer_of(m) for m in graph}
    except ValueError:
        layered = {}
    if layered:
        lines.append("layers (lowest first) and what each imports:")
        for i, (name, _) in enumerate(LAYERS):
            members = sorted(m for m, layer in layered.items() if layer == i)
            below = sorted({LAYERS[layered[t]][0] for m in members for t in graph[m]
                            if layered[t] != i})
            lines.append(f"  {name:9} {len(members):2} modules; imports "
                         f"{', '.join(below) or 'nothing of the package'}")
    found = problems(graph) if layered else [
        f"import cycle: {' <-> '.join(c)}" for c in cycles(graph)]
    lines.append(f"{len(graph)} modules, {sum(map(len, graph.values()))} imports; "
                 + ("no cycle, every import goes down the layers" if not found
                    else f"{len(found)} problem(s):"))
    lines += [f"  {p}" for p in found]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = CommandParser(prog="python -m toygan.imports",
                           description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1],
                        help="the directory that holds the toygan package (default: this one)")
    parser.add_argument("--edges", action="store_true", help="list every module's imports")
    try:
        args = parser.parse_args(argv)
        if not (args.root / "toygan").is_dir():
            raise UsageError(f"--root {args.root}: no toygan package there")
    except UsageError as err:
        return fail("imports", str(err))
    graph = import_graph(args.root)
    print(report(graph, args.edges))
    try:
        return 1 if problems(graph) else 0
    except ValueError:  # a tree without the layers: its cycles are the report
        return 1 if cycles(graph) else 0


if __name__ == "__main__":
    sys.exit(main())
