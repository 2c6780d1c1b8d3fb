"""Shared fixtures: a tiny checkpoint and a tiny paired corpus, built fresh for each session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from wux.contract import DEFAULT_SAMPLE_RATE as SAMPLE_RATE
from wux.data.layout import SPLITS, split_dirs
from wux.model.config import TINY, WaveUNetConfig

EXPORT_CHUNK = 2048  # small serving chunk for the tiny model's exports

# Off a terminal, long work says a progress line every 30 s: on a busy machine a test's command could add one to
# the stderr it reads. None here (servers and subprocesses inherit it); tests/test_progress.py sets its own.
os.environ["WUX_PROGRESS_SECONDS"] = "1e9"


def pytest_collection_modifyitems(config, items):
    from wux.tools import find_tritonserver

    has_espeak = shutil.which("espeak-ng") is not None
    has_festival = shutil.which("text2wave") is not None
    has_server = find_tritonserver() is not None
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except Exception:
        has_cuda = False
    for item in items:
        if "espeak" in item.keywords and not has_espeak:
            item.add_marker(pytest.mark.skip(reason="espeak-ng not installed (apt-get install espeak-ng)"))
        if "festival" in item.keywords and not has_festival:
            item.add_marker(pytest.mark.skip(reason="Festival not installed (make sysdeps)"))
        if "server" in item.keywords and not has_server:
            item.add_marker(pytest.mark.skip(reason="no tritonserver (make install puts it in .venv)"))
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(pytest.mark.skip(reason="no CUDA device"))


def make_checkpoint(path: Path, config: WaveUNetConfig = TINY, seed: int = 0) -> Path:
    import torch

    from wux.model.checkpoint import Checkpoint, build_model, save_checkpoint

    torch.manual_seed(seed)
    model = build_model(config)
    return save_checkpoint(Checkpoint(model.state_dict(), config, training={"steps": 0}), path)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.wux.pt")


def speechlike(rng: np.random.Generator, n: int) -> np.ndarray:
    """Harmonic tones with a syllable-rate envelope: enough structure for a denoiser to learn."""
    t = np.arange(n) / SAMPLE_RATE
    f0 = rng.uniform(90, 220)
    wave = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) / k for k in range(1, 8))
    envelope = np.clip(np.sin(2 * np.pi * rng.uniform(2, 5) * t), 0, None) ** 2
    return (0.1 * wave * envelope).astype(np.float32)


def write_corpus(root: Path, files: int = 6, seconds: float = 1.5, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for split in SPLITS:
        clean_dir, noisy_dir = split_dirs(root, split)
        clean_dir.mkdir(parents=True)
        noisy_dir.mkdir(parents=True)
        for i in range(files):
            clean = speechlike(rng, int(seconds * SAMPLE_RATE))
            noisy = clean + 0.03 * rng.standard_normal(len(clean)).astype(np.float32)
            sf.write(clean_dir / f"p{i:03d}_001.wav", clean, SAMPLE_RATE, subtype="FLOAT")
            sf.write(noisy_dir / f"p{i:03d}_001.wav", noisy, SAMPLE_RATE, subtype="FLOAT")
    return root


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus") / "corpus")


@pytest.fixture
def wav_file(tmp_path) -> Path:
    rng = np.random.default_rng(1)
    path = tmp_path / "noisy.wav"
    sf.write(path, speechlike(rng, 20_000) + 0.02 * rng.standard_normal(20_000), SAMPLE_RATE, subtype="FLOAT")
    return path


def export_request(**kw):
    """The tiny model's export settings: a small chunk and batch keep every test fast."""
    from wux.pipeline import ExportRequest

    return ExportRequest(**{"chunk": EXPORT_CHUNK, "max_batch": 3, **kw})


def source(checkpoint: Path):
    from wux.model.load import ModelSource

    return ModelSource(checkpoint=checkpoint)


@pytest.fixture(scope="session")
def exported(tmp_path_factory) -> tuple[Path, Path]:
    """(export folder, checkpoint): TorchScript + ONNX FP32 + ONNX FP16 of a tiny model, verified."""
    from wux.pipeline import export_model

    root = tmp_path_factory.mktemp("export")
    ckpt = make_checkpoint(root / "tiny.wux.pt", TINY, seed=0)
    out = root / "build"
    export_model(source(ckpt), out, export_request(formats=("torchscript", "onnx"), precisions=("fp32", "fp16")),
                 show_progress=False)
    return out, ckpt


@pytest.fixture(scope="session")
def causal_exported(tmp_path_factory):
    """(export folder, checkpoint, ExportResult) of a small causal model: ONNX + its step models, verified."""
    import dataclasses

    from wux.model.config import CAUSAL
    from wux.pipeline import export_model

    root = tmp_path_factory.mktemp("causal")
    ckpt = make_checkpoint(root / "causal.wux.pt", dataclasses.replace(CAUSAL, levels=3, growth=8))
    out = root / "build"
    result = export_model(source(ckpt), out, export_request(formats=("onnx",)), show_progress=False)
    return out, ckpt, result


@pytest.fixture(scope="session")
def served(exported, tmp_path_factory):
    """(ServerInfo, export folder): a real tritonserver on 127.0.0.1 serving the tiny export."""
    import os

    from wux.triton_repo.config import ServingOptions
    from wux.triton_repo.generate import RepoRequest, generate_repository
    from wux.triton_repo.server import TritonServer

    repo = tmp_path_factory.mktemp("served") / "repo"
    # a long queue delay makes batching under concurrent load certain, not a matter of timing luck
    generate_repository(exported[0], repo, RepoRequest(options=ServingOptions(max_batch=3, queue_delay_us=50_000)))
    server = TritonServer(repo)
    info = server.start()
    yield info, exported[0]
    assert server.stop() == 0
    with pytest.raises(ProcessLookupError):
        os.kill(info.pid, 0)  # stopped by its own PID, and gone
    assert server.shared_memory_regions() == []  # its python stubs' regions too
