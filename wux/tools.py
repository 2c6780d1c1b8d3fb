"""Facts about this environment: installed package versions, where tritonserver and perf_analyzer live."""

from __future__ import annotations

import shutil
import sys
import sysconfig
from importlib import metadata
from pathlib import Path


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


def find_tritonserver(explicit: Path | str | None = None) -> Path | None:
    """The flag, then PATH, then the binary inside the nvidia-pytriton wheel."""
    return find_binary("tritonserver", explicit, site_packages() / "pytriton" / "tritonserver" / "bin" / "tritonserver")


def find_perf_analyzer(explicit: Path | str | None = None) -> Path | None:
    """The flag, then PATH, then the folder `make perf-tools` fills inside the virtualenv."""
    return find_binary("perf_analyzer", explicit, Path(sys.prefix) / "wux-perf-analyzer" / "perf_analyzer")
