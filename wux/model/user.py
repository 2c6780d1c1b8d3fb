"""Models people bring: a callable named as MODULE:CALLABLE or path/to/file.py:CALLABLE, built with kwargs."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from wux.errors import ModelError, few, first_line
from wux.fsutil import sha256_file


@dataclass(frozen=True)
class UserModel:
    factory: str  # "package.module:callable" or "path/to/file.py:callable"
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def file(self) -> Path | None:
        """The stand-alone .py file the factory lives in, if it is one."""
        module, _, _ = self.factory.rpartition(":")
        return Path(module) if module.endswith(".py") else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.file is not None:
            d["factory"] = f"{self.file.resolve()}:{self.factory.rpartition(':')[2]}"
            d["file_sha256"] = sha256_file(self.file) if self.file.is_file() else None
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UserModel:
        return cls(str(data["factory"]), dict(data.get("kwargs") or {}))


def split_factory(spec: str) -> tuple[str, str]:
    module, sep, attr = spec.rpartition(":")
    if not sep or not module or not attr.isidentifier():
        raise ModelError(f"--model {spec!r}: expected MODULE:CALLABLE (e.g. denoiser.demucs:Demucs) "
                         "or path/to/file.py:CALLABLE")
    return module, attr


def import_module(module: str):
    if module.endswith(".py"):
        return import_file(Path(module))
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        raise ModelError(f"cannot import {module!r}: {first_line(e)} (is the package installed in this environment?)"
                         ) from None
    except Exception as e:  # noqa: BLE001 - whatever the user's module raises while importing
        raise ModelError(f"importing {module!r} failed: {type(e).__name__}: {first_line(e)}") from None


def import_file(path: Path):
    """Import a stand-alone .py file under a name of its own; its folder is importable while it loads."""
    path = path.resolve()
    if not path.is_file():
        raise ModelError("model file not found", path)
    if (path.parent / "__init__.py").is_file():
        return import_from_package(path)
    name = f"wux_user_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 - whatever the user's file raises while importing
        del sys.modules[name]
        raise ModelError(f"importing failed: {type(e).__name__}: {first_line(e)}", path) from None
    finally:
        sys.path.remove(str(path.parent))
    return module


def import_from_package(path: Path):
    """A .py file inside a package (an __init__.py beside it), imported as the package's module, so that its
    relative imports work; the folder above the package's top is importable while it loads."""
    top = path.parent
    while (top.parent / "__init__.py").is_file():
        top = top.parent
    dotted = ".".join(path.relative_to(top.parent).with_suffix("").parts)
    sys.path.insert(0, str(top.parent))
    try:
        module = importlib.import_module(dotted)
    except Exception as e:  # noqa: BLE001 - whatever the user's package raises while importing
        raise ModelError(f"importing failed (as {dotted}): {type(e).__name__}: {first_line(e)}", path) from None
    finally:
        sys.path.remove(str(top.parent))
    if Path(getattr(module, "__file__", "") or "").resolve() != path:
        raise ModelError(f"{dotted} is already imported from {module.__file__}, another file of that name", path)
    return module


def callables_in(module, shown: int = 8) -> str:
    """The public callables a module defines itself (not those it imports), the first `shown` of them."""
    have = sorted(k for k, v in vars(module).items()
                  if callable(v) and not k.startswith("_") and getattr(v, "__module__", None) == module.__name__)
    return few(have, shown) or "none"


def resolve_factory(spec: str) -> Callable:
    """The callable named by MODULE:CALLABLE or file.py:CALLABLE."""
    module_name, attr = split_factory(spec)
    module = import_module(module_name)
    factory = getattr(module, attr, None)
    if factory is None:
        raise ModelError(f"{module_name} has no {attr!r}; callables defined there: {callables_in(module)}")
    if not callable(factory):
        raise ModelError(f"{spec} is not callable (it is a {type(factory).__name__})")
    return factory


def build_user_model(user: UserModel):
    """Call the factory with its kwargs; the result must be a torch.nn.Module, put in eval mode."""
    from torch import nn

    factory = resolve_factory(user.factory)
    try:
        model = factory(**user.kwargs)
    except Exception as e:  # noqa: BLE001 - a bad kwarg or the user's own constructor failing
        raise ModelError(f"{user.factory}(**{user.kwargs}) failed: {type(e).__name__}: {first_line(e)}") from None
    if not isinstance(model, nn.Module):
        raise ModelError(f"{user.factory} returned a {type(model).__name__}, not a torch.nn.Module")
    return model.eval()
