"""`pip install '.[serve]'` in a fresh virtualenv, without the Makefile: `wux serve` fetches its server on first
use and `wux denoise --url` talks to it. (CPU torch first, as the README says: a bare `torch` requirement
may pull a CUDA build.)"""

import json
import os
import signal
import subprocess
import sys
import venv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.triton_repo.test_server import reference
from wux.metrics import si_snr_db
from wux.tools import package_version
from wux.triton_repo.server import free_ports

ROOT = Path(__file__).resolve().parents[1]


def pip(python: Path, *args: str) -> None:
    run = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.server
def test_pip_install_serve_then_serve_and_denoise(served, tmp_path):
    info, folder = served
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    pip(python, f"torch=={package_version('torch').split('+')[0]}")
    pip(python, f"{ROOT}[serve]")
    wux = env_dir / "bin" / "wux"
    clean = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "WUX_TRITON_HOME")}
    ports = free_ports(3)
    server = subprocess.Popen([str(wux), "serve", info.repo, "--http-port", str(ports[0]), "--grpc-port",
                               str(ports[1]), "--metrics-port", str(ports[2]), "--json"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=clean, cwd=tmp_path)
    try:
        ready = json.loads(server.stdout.readline() or "{}")
        assert "waveunet" in ready.get("ready_models", []), server.stderr.read() if server.poll() is not None else ""
        assert (env_dir / "wux-triton" / "server").is_dir()  # its own server, fetched into its own environment
        wave = np.random.default_rng(5).standard_normal(7000).astype(np.float32) * 0.1
        sf.write(tmp_path / "in.wav", wave, 16000, subtype="FLOAT")
        run = subprocess.run([str(wux), "denoise", tmp_path / "in.wav", "-o", tmp_path / "out.wav", "--url",
                              f"127.0.0.1:{ports[1]}"], capture_output=True, text=True, env=clean, timeout=300)
        assert run.returncode == 0, run.stderr
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    got, _ = sf.read(tmp_path / "out.wav", dtype="float32")
    assert si_snr_db(got, reference(folder, wave)) > 40  # a 16-bit file of the same signal
    assert sys.prefix != str(env_dir)
