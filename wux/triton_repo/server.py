"""`wux serve`: a real tritonserver on loopback, started and stopped by PID (also a context manager)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from wux.contract import CoreRef, parameters_of
from wux.errors import MissingDependency, WuxError
from wux.triton_repo.config import validate
from wux.triton_repo.provision import ensure_server, ensure_stub_env

PYTHON_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
SHARED_MEMORY = Path("/dev/shm")  # where the python backend's stubs keep their regions


@dataclass
class ServerInfo:
    pid: int
    host: str
    http_port: int
    grpc_port: int
    metrics_port: int
    ready_models: list[str] = field(default_factory=list)
    skipped_models: dict[str, str] = field(default_factory=dict)  # name -> why this server cannot load it
    log: str = ""
    repo: str = ""

    @property
    def http_url(self) -> str:
        return f"{self.host}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    def to_dict(self) -> dict:
        return {**asdict(self), "http_url": self.http_url, "grpc_url": self.grpc_url}


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` different ports nobody listens on: every socket stays bound until all are chosen, so the kernel
    cannot hand out one port twice (tritonserver refuses two services on one port)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind((host, 0))
        return [s.getsockname()[1] for s in sockets]


def free_port(host: str = "127.0.0.1") -> int:
    return free_ports(1, host)[0]


def chosen_ports(asked: list[int], host: str) -> list[int]:
    """The ports asked for, a free one for each 0; the same port twice is refused (Triton prints its usage)."""
    taken = [p for p in asked if p]
    if len(set(taken)) < len(taken):
        raise WuxError(f"the HTTP, gRPC and metrics ports must differ, got {', '.join(map(str, asked))}")
    free = iter(p for p in free_ports(len(asked) + len(taken), host) if p not in taken)
    return [p or next(free) for p in asked]


PORT_ATTEMPTS = 3  # starts with fresh free ports when another process took a chosen one before the server bound it


def refused_command_line(lines: list[str]) -> str | None:
    """What tritonserver said about a command line it refused, without the usage text it prints around it."""
    if not any(line.startswith("Usage: tritonserver") for line in lines):
        return None
    said = [line.strip() for line in lines if line.strip() and not line[0].isspace()
            and not line.startswith("Usage:") and not line.rstrip().endswith(":")]
    return " ".join(said) or None


def backend_dir(server: Path) -> Path:
    """A backends folder holding the python backend with this Python's stub, built once per server."""
    root = server.parent.parent  # .../tritonserver/bin/tritonserver -> .../tritonserver
    source = root / "backends" / "python"
    stub = root / "python_backend_stubs" / PYTHON_VERSION / "triton_python_backend_stub"
    if not (source / "libtriton_python.so").is_file() or not stub.is_file():
        raise MissingDependency(f"the python backend for Python {PYTHON_VERSION} next to {server}")
    target = Path(tempfile.gettempdir()) / f"wux-triton-backends-{os.getuid()}" / PYTHON_VERSION
    python = target / "python"
    if not (python / "triton_python_backend_stub").is_file():
        python.mkdir(parents=True, exist_ok=True)
        for f in ("libtriton_python.so", "triton_python_backend_utils.py"):
            shutil.copyfile(source / f, python / f)
        shutil.copy2(stub, python / "triton_python_backend_stub")
    return target


def available_backends(backends: Path) -> set[str]:
    return {p.name for p in backends.iterdir() if p.is_dir()}


def loadable_models(repo: Path, backends: set[str]) -> tuple[list[str], dict[str, str]]:
    """(models this server can load, {model: why not}) from each config's platform or backend."""
    platform_backend = {"onnxruntime_onnx": "onnxruntime", "tensorrt_plan": "tensorrt",
                        "pytorch_libtorch": "pytorch"}
    ok, skipped = [], {}
    for config in sorted(Path(repo).glob("*/config.pbtxt")):
        cfg = validate(config.read_text(), str(config))
        needed = cfg.backend or platform_backend.get(cfg.platform, cfg.platform)
        if needed in backends:
            ok.append(cfg.name)
        else:
            skipped[cfg.name] = f"needs the {needed} backend, which this tritonserver does not have"
    # A front model is only useful if its core model loads.
    for config in sorted(Path(repo).glob("*/config.pbtxt")):
        cfg = validate(config.read_text(), str(config))
        core = CoreRef.from_params(parameters_of(cfg))
        if core and core.model not in ok and cfg.name in ok:
            ok.remove(cfg.name)
            skipped[cfg.name] = f"its core model {core.model} cannot be loaded here"
    return ok, skipped


def server_environment(server: Path, stub_env: Path) -> dict[str, str]:
    """The wheel's shared libraries beside its binary, and the stub's package folder (see templates/core_model.py:
    the embedded interpreter ignores PYTHONPATH, so the generated models read WUX_TRITON_PYTHONPATH)."""
    env = dict(os.environ)
    libs = server.parents[3] / "nvidia_pytriton.libs"  # <root>/pytriton/tritonserver/bin/tritonserver
    env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (str(libs), env.get("LD_LIBRARY_PATH", "")) if p)
    env["WUX_TRITON_PYTHONPATH"] = str(stub_env)
    return env


class TritonServer:
    """Start tritonserver on loopback with the models it can load; stop it by PID."""

    def __init__(self, repo: Path, host: str = "127.0.0.1", http_port: int = 0, grpc_port: int = 0,
                 metrics_port: int = 0, binary: Path | None = None, stub_env: Path | None = None,
                 startup_timeout_s: float = 90.0, cpus: set[int] | None = None, control_mode: str = "explicit",
                 extra_args: tuple[str, ...] = ()):
        self.repo = Path(repo).resolve()
        self.host = host
        self.asked_ports = [http_port, grpc_port, metrics_port]  # 0: a free one, chosen here
        self.ports = chosen_ports(self.asked_ports, host)
        self.binary = binary
        self.stub_env = Path(stub_env) if stub_env else None  # None: wux's own (provisioned on first use)
        self.timeout = startup_timeout_s
        self.cpus = cpus  # pin the server (and the backend stubs it spawns) to these cores
        self.control_mode = control_mode  # explicit: `wux tune` can reload models; none: every model, fixed
        self.extra_args = tuple(extra_args)  # passed to tritonserver as they are (e.g. --log-verbose=1)
        self.process: subprocess.Popen | None = None
        self.info: ServerInfo | None = None
        self.log_path: Path | None = None
        # this server's own name for its stubs' shared-memory regions, so stop() can remove what a killed
        # server leaves behind (Triton unlinks them only on a clean shutdown)
        self.shm_prefix = f"wux_{uuid.uuid4().hex[:12]}_"

    @staticmethod
    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def start(self) -> ServerInfo:
        if self.repo.exists() and not self.repo.is_dir():
            raise WuxError("is a file, not a model repository (the folder `wux triton` writes)", self.repo)
        if not self.repo.is_dir():
            raise WuxError("model repository not found", self.repo)
        if not any(self.repo.glob("*/config.pbtxt")):  # before anything is fetched or started
            raise WuxError("holds no models (a folder per model with its config.pbtxt); write one with "
                           "`wux triton`", self.repo)
        say = self.say
        server = ensure_server(self.binary, say)
        self.stub_env = self.stub_env or ensure_stub_env(say)
        backends = backend_dir(server)
        ok, skipped = loadable_models(self.repo, available_backends(backends))
        if not ok:
            raise WuxError("this tritonserver can load none of the models: " + "; ".join(
                f"{k}: {v}" for k, v in skipped.items()), self.repo)
        if self.control_mode != "explicit" and skipped:
            raise WuxError(f"model control mode {self.control_mode} loads every model, and this tritonserver "
                           f"cannot load {', '.join(skipped)}", self.repo)
        for _ in range(PORT_ATTEMPTS - 1):
            try:
                return self.launch(server, backends, ok, skipped)
            except WuxError:
                if not self.lost_a_chosen_port():
                    raise
            self.log_path.unlink(missing_ok=True)
            self.ports = chosen_ports(self.asked_ports, self.host)  # fresh free ones; the asked ones kept
        return self.launch(server, backends, ok, skipped)

    def launch(self, server: Path, backends: Path, ok: list[str], skipped: dict[str, str]) -> ServerInfo:
        http, grpc, metrics = self.ports
        cmd = [str(server), "--model-repository", str(self.repo), "--backend-directory", str(backends),
               "--http-address", self.host, "--grpc-address", self.host, "--http-port", str(http),
               "--grpc-port", str(grpc), "--metrics-port", str(metrics), "--allow-gpu-metrics", "false",
               "--model-control-mode", self.control_mode, "--strict-readiness", "true",
               # bounded shutdown: an idle keep-alive client would otherwise hold SIGTERM for 30 s
               "--exit-timeout-secs", "5",
               "--backend-config", f"python,shm-region-prefix-name={self.shm_prefix}"]
        cmd += list(self.extra_args)
        if self.control_mode == "explicit":
            cmd += [f"--load-model={m}" for m in ok]
        fd, log = tempfile.mkstemp(prefix="wux-tritonserver-", suffix=".log")
        self.log_path = Path(log)
        pin = (lambda: os.sched_setaffinity(0, self.cpus)) if self.cpus else None
        self.process = subprocess.Popen(cmd, stdout=fd, stderr=subprocess.STDOUT, start_new_session=True,
                                        env=server_environment(server, self.stub_env), preexec_fn=pin)
        os.close(fd)
        self.info = ServerInfo(self.process.pid, self.host, http, grpc, metrics, [], skipped, str(self.log_path),
                               str(self.repo))
        try:
            self.wait_ready(ok)
        except BaseException:
            self.stop()
            raise
        self.info.ready_models = ok
        return self.info

    def lost_a_chosen_port(self) -> bool:
        """Whether the server could not bind a port wux chose for it (another process took the free port between
        the choice and the bind: a race, worth another try) rather than one the caller asked for."""
        text = self.log_path.read_text(errors="replace") if self.log_path else ""
        taken = [int(p) for p in re.findall(r":(\d+)' already in use", text)]
        return bool(taken) and all(p not in self.asked_ports for p in taken)

    def wait_ready(self, models: list[str]) -> None:
        deadline = time.monotonic() + self.timeout
        url = f"http://{self.host}:{self.ports[0]}/v2/health/ready"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise WuxError(f"tritonserver exited with code {self.process.returncode}: {self.last_error()}")
            try:
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise WuxError(f"tritonserver was not ready after {self.timeout:.0f} s: {self.last_error()}")

    def last_error(self) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines() if self.log_path else []
        refused = refused_command_line(lines)
        if refused:
            return refused[:300]
        errors = [line for line in lines if line.startswith("E") or "error" in line.lower()]
        return (errors or lines or ["(no log)"])[-1][:300]

    def stop(self, timeout_s: float = 15.0) -> int | None:
        """SIGTERM the server's own PID, SIGKILL if it does not exit in time; returns its exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.reap_group()
        self.remove_shared_memory()
        if self.process.returncode == 0 and self.log_path:
            self.log_path.unlink(missing_ok=True)  # keep the log only when something went wrong
        return self.process.returncode

    def reap_group(self) -> None:
        """The python backend's stubs are the server's children in its own process group (start_new_session):
        a server that was killed, not stopped, leaves them running. Nothing else is in that group."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            return  # the group is gone: a clean stop takes its stubs with it
        deadline = time.monotonic() + 10  # orphans are reaped by init, not at once (seen: ~2 s)
        while time.monotonic() < deadline:
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    def shared_memory_regions(self) -> list[Path]:
        return sorted(SHARED_MEMORY.glob(self.shm_prefix + "*"))

    def remove_shared_memory(self) -> None:
        for region in self.shared_memory_regions():
            region.unlink(missing_ok=True)

    def serve(self, on_ready=None) -> int:
        """Run until SIGTERM or Ctrl-C, then stop by PID; returns the exit code. A server that dies is an error."""
        stop = {"requested": False}

        def request_stop(signum, frame):
            stop["requested"] = True

        previous = signal.signal(signal.SIGTERM, request_stop)
        try:
            info = self.start()
            if on_ready:
                on_ready(info)
            try:
                while not stop["requested"] and self.process.poll() is None:
                    time.sleep(0.5)
            except KeyboardInterrupt:
                pass
            died = self.process.poll() is not None
            code = self.stop()
        finally:
            signal.signal(signal.SIGTERM, previous)
        if died:
            raise WuxError(f"tritonserver exited on its own (code {code}): {self.last_error()}")
        return code

    def __enter__(self) -> ServerInfo:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
