"""Facts about this environment: installed package versions, where tritonserver and perf_analyzer live."""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

from wux.errors import MissingDependency

# What `pip install 'wux[EXTRA]'` brings, for the one-line error when a step needs it.
EXTRAS = {"tritonclient": "serve", "google": "serve", "onnxruntime": "cpu", "tensorrt": "gpu",
          "matplotlib": "plot", "tensorboard": "tensorboard", "pesq": "metrics", "pystoi": "metrics",
          "fastapi": "gateway", "uvicorn": "gateway", "python_multipart": "gateway", "prometheus_client": "gateway",
          "selenium": "dev", "yaml": "deploy",
          "starlette": "gateway", "anyio": "gateway", "httpx": "gateway",
          "noisereduce": "spectral-gating", "pyrnnoise": "rnnoise"}
HINTS = {"onnxruntime": "pip install 'wux[cpu]', or 'wux[gpu]' for the CUDA provider (not both)"}


def require(module: str):
    """Import an optional module, or fail with the extra that provides it."""
    top = module.split(".")[0]
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingDependency(module, extra=EXTRAS.get(top), hint=HINTS.get(top)) from e


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def tool_versions() -> dict[str, str | None]:
    """Versions of the packages an artifact's faithfulness depends on, for the manifest."""
    return {name: package_version(name) for name in ("torch", "onnx", "onnxruntime", "numpy", "tensorrt")}


def site_packages() -> Path:
    return Path(sysconfig.get_paths()["purelib"])


def find_binary(name: str, explicit: Path | str | None, bundled: Path) -> Path | None:
    """The explicit path if given (None when it is not a file), else PATH, else `bundled`."""
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    on_path = shutil.which(name)
    if on_path:
        return Path(on_path)
    return bundled if bundled.is_file() else None


def triton_home() -> Path:
    """Where wux keeps the Triton server it provisions and the python backend's packages (one per environment)."""
    return Path(os.environ.get("WUX_TRITON_HOME") or Path(sys.prefix) / "wux-triton")


def wheel_server(root: Path) -> Path:
    """The tritonserver binary inside an unpacked nvidia-pytriton wheel (a site-packages or a --target folder)."""
    return root / "pytriton" / "tritonserver" / "bin" / "tritonserver"


def find_tritonserver(explicit: Path | str | None = None) -> Path | None:
    """The flag, then PATH, then the wheel wux provisions (wux.triton_repo.provision), then one pip installed."""
    found = find_binary("tritonserver", explicit, wheel_server(triton_home() / "server"))
    if found is None and not explicit:
        installed = wheel_server(site_packages())
        found = installed if installed.is_file() else None
    return found


def find_perf_analyzer(explicit: Path | str | None = None) -> Path | None:
    """The flag, then PATH, then the folder `make perf-tools` fills inside the virtualenv."""
    return find_binary("perf_analyzer", explicit, Path(sys.prefix) / "wux-perf-analyzer" / "perf_analyzer")
