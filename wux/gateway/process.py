"""`wux gateway ...` as a child process of its own group on a free 127.0.0.1 port: started, waited on until
ready, stopped by its PID (SIGTERM; uvicorn's workers leave with their manager). For tests and benchmarks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from wux.errors import WuxError


class GatewayProcess:
    def __init__(self, *args: str, port: int | None = None):
        from wux.triton_repo.server import free_port

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "wux.cli", "gateway", *args, "--port", str(self.port)],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout_s: float = 90.0) -> GatewayProcess:
        import httpx

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise WuxError(f"wux gateway exited with {self.proc.returncode}: {self.proc.stdout.read()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise WuxError(f"wux gateway on {self.url} did not become ready in {timeout_s:g} s")

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM to its PID, then wait for the whole group; SIGKILL what is left (and say so)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout_s)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                return code
            time.sleep(0.1)
        os.killpg(self.proc.pid, signal.SIGKILL)
        raise WuxError("gateway workers outlived their manager (killed)")

    def __enter__(self) -> GatewayProcess:
        return self.wait_ready()

    def __exit__(self, *exc) -> None:
        self.stop()
