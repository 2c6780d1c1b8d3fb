"""The Triton server and the python backend's packages, fetched into wux's own folder on first use.

Triton 2.51 with its python backend comes in the `nvidia-pytriton` wheel. Installed the usual way, that
wheel would pin the whole environment to numpy<2 for a Python API wux does not use; and the backend's
stub must itself see numpy<2 (with numpy 2 the 2.51 stub returns empty tensors without an error). So both
are unpacked with `pip install --no-deps --target` into folders of their own (wux.tools.triton_home()),
once, and `wux serve` points the server at them. `make install` runs this module; `wux serve` runs it
when they are missing.

    python -m wux.triton_repo.provision      # fetch both now
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from wux.errors import WuxError, first_line
from wux.fsutil import scratch_beside
from wux.tools import find_tritonserver, triton_home

SERVER_WHEEL = "nvidia-pytriton==0.7.0"  # tritonserver 2.51.0, its python backend, one stub per Python
# What the generated python-backend models import, for the stub: numpy<2 (see above), and onnxruntime 1.32,
# which ran the bundled model twice as fast as 1.20 here.
STUB_PACKAGES = ("numpy==1.26.4", "onnxruntime==1.32.0")


def stub_env_dir() -> Path:
    return triton_home() / "python-env"


def server_dir() -> Path:
    return triton_home() / "server"


def pip_target(packages: tuple[str, ...], target: Path, say: Callable[[str], None]) -> Path:
    """`pip install --no-deps --target` into a temporary folder beside `target`, renamed into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    say(f"fetching {' '.join(packages)} into {target} (once)")
    with scratch_beside(target) as tmp:
        run = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                              "--no-deps", "--target", str(tmp), *packages], capture_output=True, text=True)
        if run.returncode != 0:
            raise WuxError(f"pip could not fetch {' '.join(packages)}: {first_line(RuntimeError(run.stderr))}")
        tmp.replace(target)
    return target


def ensure_server(explicit: Path | None = None, say: Callable[[str], None] = print) -> Path:
    """The tritonserver to run: the flag, PATH, or wux's own (fetched now if missing)."""
    server = find_tritonserver(explicit)
    if server is None and explicit:
        raise WuxError("not a tritonserver binary", explicit)
    if server is None:
        pip_target((SERVER_WHEEL,), server_dir(), say)
        server = find_tritonserver()
    if server is None:
        raise WuxError(f"{SERVER_WHEEL} was fetched but holds no tritonserver for this platform", server_dir())
    return server


def ensure_stub_env(say: Callable[[str], None] = print) -> Path:
    """The folder the python backend's stub imports numpy and onnxruntime from (fetched now if missing)."""
    folder = stub_env_dir()
    if not (folder / "numpy").is_dir() or not (folder / "onnxruntime").is_dir():
        shutil.rmtree(folder, ignore_errors=True)
        pip_target(STUB_PACKAGES, folder, say)
    return folder


def main() -> None:
    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    print(f"tritonserver: {ensure_server(say=say)}")
    print(f"python backend packages: {ensure_stub_env(say)}")


if __name__ == "__main__":
    main()
