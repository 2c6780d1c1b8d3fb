"""`make demo`: the bundled model on the bundled noisy sample, measured."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

SAMPLE_NOISY = "sample_noisy.wav"
SAMPLE_CLEAN = "sample_clean.wav"


@dataclass(frozen=True)
class DemoResult:
    noisy: str
    clean: str
    denoised: str
    seconds: float
    wall_seconds: float
    si_snr_before_db: float
    si_snr_after_db: float
    si_snr_improvement_db: float

    def to_dict(self) -> dict:
        return asdict(self)


def bundled_sample(name: str) -> Path:
    return Path(str(resources.files("wux.model") / "default" / name))


def run_demo(out: Path, checkpoint: Path | None = None) -> DemoResult:
    import shutil

    from wux.data.audio import read_audio, write_audio
    from wux.denoise import denoise_wave, plan_for_model
    from wux.metrics import si_snr_db
    from wux.model.checkpoint import load_checkpoint
    from wux.model.runner import TorchRunner

    ckpt = load_checkpoint(checkpoint)
    noisy = read_audio(bundled_sample(SAMPLE_NOISY), ckpt.sample_rate)
    clean = read_audio(bundled_sample(SAMPLE_CLEAN), ckpt.sample_rate)
    out.mkdir(parents=True, exist_ok=True)
    for name in (SAMPLE_NOISY, SAMPLE_CLEAN):
        shutil.copyfile(bundled_sample(name), out / name)
    t0 = time.perf_counter()
    denoised = denoise_wave(TorchRunner(ckpt.build_model()), noisy, plan_for_model(ckpt.config))
    wall = time.perf_counter() - t0
    target = write_audio(out / "sample_denoised.wav", denoised, ckpt.sample_rate)
    before, after = si_snr_db(noisy, clean), si_snr_db(denoised, clean)
    return DemoResult(str(out / SAMPLE_NOISY), str(out / SAMPLE_CLEAN), str(target),
                      len(noisy) / ckpt.sample_rate, wall, before, after, after - before)


@dataclass(frozen=True)
class TritonDemoResult:
    export: str
    repo: str
    served_models: list[str]
    denoised: str
    si_snr_vs_in_process_db: float
    si_snr_before_db: float
    si_snr_after_db: float

    def to_dict(self) -> dict:
        return asdict(self)


def run_triton_demo(out: Path, checkpoint: Path | None = None) -> TritonDemoResult:
    """export -> triton repository -> tritonserver -> denoise through it, compared with in-process."""
    from wux.clients.triton import TritonDenoiser
    from wux.data.audio import read_audio, write_audio
    from wux.denoise import export_denoiser
    from wux.export.api import ExportRequest, export_artifacts
    from wux.export.spec import make_spec
    from wux.metrics import si_snr_db
    from wux.model.checkpoint import load_checkpoint
    from wux.triton_repo.generate import RepoRequest, generate_repository
    from wux.triton_repo.server import TritonServer

    ckpt = load_checkpoint(checkpoint)
    build, repo = out / "build", out / "triton_repo"
    spec = make_spec(total_stride=ckpt.config.total_stride)
    export_artifacts(checkpoint, build, ExportRequest(formats=("onnx",), spec=spec), force=True, show_progress=False)
    generate_repository(build, repo, RepoRequest(), force=True)
    noisy = read_audio(bundled_sample(SAMPLE_NOISY), ckpt.sample_rate)
    clean = read_audio(bundled_sample(SAMPLE_CLEAN), ckpt.sample_rate)
    with TritonServer(repo) as info, TritonDenoiser(info.grpc_url) as client:
        served = client.denoise(noisy)
        models = info.ready_models
    in_process = export_denoiser(build)(noisy)
    target = write_audio(out / "sample_denoised_triton.wav", served, ckpt.sample_rate)
    return TritonDemoResult(str(build), str(repo), models, str(target), si_snr_db(served, in_process),
                            si_snr_db(noisy, clean), si_snr_db(served, clean))
