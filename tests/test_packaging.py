"""What wux imports is what pyproject.toml declares; optional parts fail with the extra that brings them."""

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

import wux
from wux.errors import MissingDependency
from wux.tools import EXTRAS, require

ROOT = Path(wux.__file__).parent
PYPROJECT = tomllib.loads((ROOT.parent / "pyproject.toml").read_text())["project"]


def requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s\[<>=~!;]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}


def third_party_imports() -> set[str]:
    """Top-level modules imported anywhere in wux (the files copied into Triton repositories aside)."""
    found = set()
    for path in ROOT.rglob("*.py"):
        if "templates" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in ("wux", "__future__")}


def test_every_import_is_declared():
    core = requirement_names(PYPROJECT["dependencies"])
    extras = {name: requirement_names(reqs) for name, reqs in PYPROJECT["optional-dependencies"].items()}
    installed = metadata.packages_distributions()
    undeclared = []
    for module in sorted(third_party_imports()):
        dists = {d.lower().replace("_", "-") for d in installed.get(module, [])}
        if dists & core:
            continue
        extra = EXTRAS.get(module)
        if extra is None or extra not in extras or not (dists & extras[extra] or not dists):
            undeclared.append(f"{module} (from {sorted(dists) or 'not installed'}; extra {extra})")
    assert undeclared == []


def test_the_gpu_extra_does_not_bring_the_cpu_onnxruntime():
    extras = PYPROJECT["optional-dependencies"]
    assert "onnxruntime" not in requirement_names(extras["gpu"]) and "onnxruntime-gpu" in requirement_names(
        extras["gpu"])
    assert not {"onnxruntime", "onnxruntime-gpu"} & requirement_names(PYPROJECT["dependencies"])


@pytest.mark.parametrize("module, extra", [("tensorrt", "gpu"), ("pesq", "metrics"), ("noisereduce", "spectral-gating"),
                                           ("no_such_module_for_wux", None)])
def test_a_missing_optional_module_names_its_extra(module, extra, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # absent, whether or not it is installed here
    with pytest.raises(MissingDependency) as err:
        require(module)
    message = str(err.value)
    assert module in message and "\n" not in message
    assert (f"pip install 'wux[{extra}]'" in message) if extra else "wux[" not in message


def test_tensorboard_is_never_a_silent_no_op(tmp_path, tiny_corpus, monkeypatch):
    import builtins

    from wux.model.config import TINY
    from wux.train.loop import TrainConfig, train

    real = builtins.__import__

    def without_tensorboard(name, *args, **kwargs):
        if name == "tensorboard" or name.startswith("tensorboard."):
            raise ImportError("No module named 'tensorboard'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_tensorboard)
    monkeypatch.delitem(sys.modules, "tensorboard", raising=False)
    cfg = TrainConfig(data=tiny_corpus, out=tmp_path / "m.wux.pt", model=TINY, epochs=1, batch_size=2,
                      segment=2048, tensorboard=tmp_path / "tb")
    with pytest.raises(MissingDependency, match=r"wux\[tensorboard\]"):
        train(cfg, show_progress=False)
    assert not (tmp_path / "m.wux.pt").exists()
