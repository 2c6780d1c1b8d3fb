"""`make demo`: the bundled model on the bundled noisy sample, measured; optionally the whole serving chain."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from wux.clients.triton import TritonDenoiser
from wux.data.audio import read_audio, write_audio
from wux.denoise import export_denoiser, model_denoiser
from wux.errors import MissingDependency
from wux.fsutil import check_writable, make_folder
from wux.metrics import si_snr_db
from wux.model.load import ModelSource, load_model
from wux.pipeline import ExportRequest, export_model
from wux.quality.scoring import Scores, optional_metrics, score
from wux.quality.spectrogram import write_spectrograms
from wux.resources import BUNDLED_MODELS, PROVENANCE_FILES, SAMPLE_CLEAN, SAMPLE_NOISY, bundled
from wux.triton_repo.generate import RepoRequest, generate_repository
from wux.triton_repo.server import TritonServer


@dataclass(frozen=True)
class InProcessDemo:
    noisy: str
    clean: str
    denoised: str
    seconds: float
    wall_seconds: float
    si_snr_before_db: float
    si_snr_after_db: float
    si_snr_improvement_db: float
    pesq_wb_before: float | None = None  # None: pesq not installed (pip install 'wux[metrics]')
    pesq_wb_after: float | None = None
    stoi_before: float | None = None
    stoi_after: float | None = None
    spectrogram: str | None = None  # noisy / denoised / clean PNG; None: matplotlib not installed
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TritonDemo:
    export: str
    repo: str
    served_models: list[str]
    denoised: str
    si_snr_vs_in_process_db: float
    si_snr_before_db: float
    si_snr_after_db: float


@dataclass(frozen=True)
class HeldOutScore:
    """One system on a bundled model's held-out test split, as its provenance recorded it when it was bundled."""

    system: str
    si_snr_improvement_db: float
    pesq_wb: float | None
    stoi: float | None


@dataclass(frozen=True)
class HeldOut:
    provenance: str  # the file the figures come from
    files: int
    scores: list[HeldOutScore]


@dataclass(frozen=True)
class DemoResult:
    in_process: InProcessDemo
    triton: TritonDemo | None = None
    held_out: HeldOut | None = None  # a bundled model's recorded test-split figures (None: not a bundled model)

    def to_dict(self) -> dict:
        return asdict(self)


def run_demo(out: Path, source: ModelSource | None = None, triton: bool = False) -> DemoResult:
    """Denoise the bundled sample in-process; with `triton`, also export -> repository -> server -> client."""
    check_writable(out / SAMPLE_NOISY)  # before any work: a file where the folder goes, a folder not writable
    model = load_model(source, require_weights=True)
    rate = model.contract.sample_rate
    noisy = read_audio(bundled(SAMPLE_NOISY), rate)
    clean = read_audio(bundled(SAMPLE_CLEAN), rate)
    make_folder(out)
    for name in (SAMPLE_NOISY, SAMPLE_CLEAN):
        shutil.copyfile(bundled(name), out / name)
    t0 = time.perf_counter()
    denoised = model_denoiser(model)(noisy)
    wall = time.perf_counter() - t0
    target = write_audio(out / "sample_denoised.wav", denoised, rate)
    pesq, stoi, notes = optional_metrics()
    before, after = score(clean, noisy, rate, pesq, stoi), score(clean, denoised, rate, pesq, stoi)
    picture = write_picture(out / SPECTROGRAM, noisy, denoised, clean, rate, before, after, notes)
    local = InProcessDemo(str(out / SAMPLE_NOISY), str(out / SAMPLE_CLEAN), str(target), len(noisy) / rate, wall,
                          before.si_snr_db, after.si_snr_db, after.si_snr_db - before.si_snr_db,
                          before.pesq_wb, after.pesq_wb, before.stoi, after.stoi, picture, notes)
    return DemoResult(local, serve_demo(out, model, noisy, clean) if triton else None, recorded_held_out(model))


def recorded_held_out(model) -> HeldOut | None:
    """The held-out figures a bundled model's provenance records, when `model` is that very file (by sha256)."""
    sha = model.record.get("sha256")
    for name in BUNDLED_MODELS:
        path = bundled(PROVENANCE_FILES[name])
        if not sha or not path.is_file():
            continue
        record = json.loads(path.read_text())
        if record.get("checkpoint_sha256") != sha:
            continue
        ev, label = record["eval"], f"bundled {name} model"
        rows = [r for r in ev.get("rows", []) if r["group"] == "all" and r["system"] != "input"]
        scores = [HeldOutScore(label if r["system"] == ev.get("model") else r["system"],
                               r["si_snr_improvement_db_mean"], r["pesq_wb_mean"], r["stoi_mean"]) for r in rows]
        scores = scores or [HeldOutScore(label, ev["si_snr_improvement_db_mean"], ev.get("pesq_wb_output_mean"),
                                         ev.get("stoi_output_mean"))]
        return HeldOut(path.name, ev["files"], scores)
    return None


SPECTROGRAM = "spectrogram.png"


def write_picture(path: Path, noisy, denoised, clean, rate: int, before: Scores, after: Scores,
                  notes: list[str]) -> str | None:
    """The three spectrograms, or a note saying what to install."""
    try:
        write_spectrograms(path, {f"noisy (SI-SNR {before.si_snr_db:.1f} dB)": noisy,
                                  f"denoised (SI-SNR {after.si_snr_db:.1f} dB)": denoised, "clean": clean}, rate)
    except MissingDependency:
        notes.append("spectrogram (pip install 'wux[plot]')")
        return None
    return str(path)


def serve_demo(out: Path, model, noisy, clean) -> TritonDemo:
    build, repo = out / "build", out / "triton_repo"
    export_model(model, build, ExportRequest(formats=("onnx",)), force=True, show_progress=False)
    generate_repository(build, repo, RepoRequest(), force=True)
    with TritonServer(repo) as info, TritonDenoiser(info.grpc_url) as client:
        served = client.denoise(noisy)
        models = info.ready_models
    in_process = export_denoiser(build)(noisy)
    target = write_audio(out / "sample_denoised_triton.wav", served, model.contract.sample_rate)
    return TritonDemo(str(build), str(repo), models, str(target), si_snr_db(served, in_process),
                      si_snr_db(noisy, clean), si_snr_db(served, clean))
