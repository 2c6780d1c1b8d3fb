"""Run the gateway under uvicorn, in one process or several workers (the article's Gunicorn set-up, with
uvicorn's own process manager): each worker opens its own backend from the configuration in its environment."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Callable

from wux.errors import ConfigError
from wux.gateway.config import ENV_VAR, GatewayConfig

APP_FACTORY = "wux.gateway.app:app_from_env"


def check_bindable(host: str, port: int) -> None:
    """Bind (and release) the address now, so an unknown host or a taken port is one line before anything
    starts, not uvicorn's log line and exit code 3."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # uvicorn's own choice of family
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds it
            s.bind((host, port))
    except OSError as e:
        raise ConfigError(f"cannot listen on {host}:{port} ({e.strerror})") from None


def run_gateway(cfg: GatewayConfig, host: str = "127.0.0.1", port: int = 8080, workers: int = 1,
                on_ready: Callable[[str], None] | None = None) -> None:
    """Serve until Ctrl-C / SIGTERM. The backend is opened once here first, so that a wrong export or an
    unreachable Triton is a one-line error before any worker starts."""
    from wux.gateway.backends import open_backend
    from wux.tools import require

    for module in ("fastapi", "python_multipart", "prometheus_client"):
        require(module)
    uvicorn = require("uvicorn")
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port} is not a TCP port")
    if workers < 1:
        raise ConfigError("--workers must be at least 1")
    check_bindable(host, port)
    open_backend(cfg).close()
    os.environ[ENV_VAR] = cfg.to_env()
    metrics_dir = None
    try:
        if workers > 1:  # prometheus_client's multiprocess mode: every worker writes, /metrics sums them
            metrics_dir = tempfile.mkdtemp(prefix="wux-gateway-metrics-")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        if on_ready:
            on_ready(f"http://{host}:{port}")
        uvicorn.run(APP_FACTORY, factory=True, host=host, port=port, workers=workers, log_level="warning",
                    timeout_graceful_shutdown=10)
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
