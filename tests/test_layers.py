"""The package's import graph: layers point down (wux/layers.py) and nothing imports in a circle."""

import ast
from pathlib import Path

import wux
from wux.layers import layer_of

ROOT = Path(wux.__file__).parent


def modules() -> dict[str, Path]:
    """Every module of the package except the files copied into Triton repositories as they are."""
    out = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        if "templates" in rel.parts:
            continue
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        out[".".join(parts)] = path
    return out


def wux_imports(path: Path, known: set[str]) -> set[str]:
    """The wux modules `path` imports, anywhere in the file (function-local imports count too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        found |= {n for n in names if n.split(".")[0] == "wux" and n in known}
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: wux_imports(path, set(mods)) - {name} for name, path in mods.items()}


def test_every_module_has_a_layer():
    for name in modules():
        layer_of(name)  # raises KeyError naming the module


def test_no_module_imports_from_a_higher_layer():
    upward = [f"{m} (layer {layer_of(m)}) imports {d} (layer {layer_of(d)})"
              for m, deps in graph().items() for d in sorted(deps) if layer_of(d) > layer_of(m)
              and not m.startswith(d + ".")]  # a package's __init__ may name its own submodules
    assert upward == []


def test_no_import_cycles():
    g = graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node, path):
        state[node] = 1
        for dep in sorted(g[node]):
            if state.get(dep) == 1:
                cycles.append(" -> ".join(path[path.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep, path + [dep])
        state[node] = 2

    for node in sorted(g):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_the_checker_sees_an_upward_import(tmp_path):
    """The walk above would catch it: a low module importing the CLI is found and placed."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from wux.cli import app\n    return app\n")
    assert wux_imports(bad, set(modules())) == {"wux.cli"}
    assert layer_of("wux.cli") > layer_of("wux.contract")
