"""Where the external binaries live: tritonserver and perf_analyzer."""

from __future__ import annotations

import shutil
import sys
import sysconfig
from pathlib import Path


def site_packages() -> Path:
    return Path(sysconfig.get_paths()["purelib"])


def find_tritonserver(explicit: Path | str | None = None) -> Path | None:
    """The flag, then PATH, then the binary inside the nvidia-pytriton wheel."""
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    on_path = shutil.which("tritonserver")
    if on_path:
        return Path(on_path)
    bundled = site_packages() / "pytriton" / "tritonserver" / "bin" / "tritonserver"
    return bundled if bundled.is_file() else None


def find_perf_analyzer(explicit: Path | str | None = None) -> Path | None:
    """The flag, then PATH, then the environment's bin folder (where the tritonclient wheel puts it)."""
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    on_path = shutil.which("perf_analyzer")
    if on_path:
        return Path(on_path)
    beside = Path(sys.executable).parent / "perf_analyzer"
    return beside if beside.is_file() else None
