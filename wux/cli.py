"""The `wux` command line: parse, call one library function, print its result."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import is_dataclass
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from wux.constants import DEFAULT_CHUNK
from wux.errors import WuxError


class WuxGroup(typer.core.TyperGroup):
    """Turns every WuxError into one line on stderr and exit code 2; other errors keep their traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except WuxError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2) from None


app = typer.Typer(
    cls=WuxGroup, name="wux", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="Wave-U-Net speech denoising: checkpoint -> verified export -> Triton -> measured serving.",
)
data_app = typer.Typer(no_args_is_help=True, help="Make and inspect data sets.")
app.add_typer(data_app, name="data")

CheckpointArg = Annotated[
    Optional[Path], typer.Argument(help="wux checkpoint (default: the bundled model)", show_default=False)
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON only.")]
# load-generation options shared by `wux perf` and `wux tune`
LengthsOpt = Annotated[Optional[str], typer.Option(help="SAMPLES:SHARE,... (default: the model's chunk)")]
IntervalOpt = Annotated[int, typer.Option(help="Measurement window, ms")]
StabilityOpt = Annotated[float, typer.Option(help="Last 3 windows must agree within this %")]
MaxTrialsOpt = Annotated[int, typer.Option(help="Windows per level before giving up on stability")]
InputDataOpt = Annotated[Optional[Path], typer.Option(help="Folder of WAV files to send")]


def emit(result: Any, as_json: bool, render) -> None:
    """Print `result` as JSON, or through `render(result)` for people."""
    if as_json:
        data = result.to_dict() if is_dataclass(result) else result
        typer.echo(json.dumps(data, indent=2, default=str))
    else:
        render(result)


def console():
    """Rich console; when output is piped (CI logs), wide enough that tables are not truncated."""
    from rich.console import Console

    out = Console()
    return out if out.is_terminal else Console(width=160)


def kv_table(title: str, rows: dict[str, Any]):
    from rich.table import Table

    table = Table(title=title, show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for k, v in rows.items():
        table.add_row(k, "-" if v is None else str(v))
    return table


# ---------------------------------------------------------------- environment and model


@app.command()
def doctor(as_json: JsonOpt = False) -> None:
    """Check the environment: Python, torch/CUDA, onnxruntime, TensorRT, Triton tools."""
    from wux.doctor import diagnose

    report = diagnose()

    def render(r):
        console().print(kv_table("wux doctor", r.to_rows()))

    emit(report, as_json, render)


@app.command()
def info(checkpoint: CheckpointArg = None, as_json: JsonOpt = False) -> None:
    """Model config, parameters, MACs per second of audio, total stride, receptive field."""
    from wux.model.checkpoint import load_checkpoint
    from wux.model.info import model_info

    ckpt = load_checkpoint(checkpoint)
    facts = model_info(ckpt.build_model(), ckpt.sample_rate)
    result = {
        "checkpoint": str(ckpt.path), "sha256": ckpt.sha256, "config": ckpt.config.to_dict(),
        **facts.to_dict(), "gmacs_per_second_audio": round(facts.macs_per_second_audio / 1e9, 3),
        "training": {k: v for k, v in ckpt.training.items() if k not in ("train", "history")},
    }

    def render(r):
        rows = {k: v for k, v in r.items() if k not in ("config", "training")}
        rows.update({f"config.{k}": v for k, v in r["config"].items()})
        rows.update({f"training.{k}": v for k, v in r["training"].items()})
        console().print(kv_table("wux info", rows))

    emit(result, as_json, render)


@app.command("import")
def import_(
    state_dict: Annotated[Path, typer.Argument(help="A torch file holding a state_dict")],
    config: Annotated[Path, typer.Option(help="Model config JSON (fields of WaveUNetConfig, or a preset)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the wux checkpoint")],
    sample_rate: Annotated[int, typer.Option(help="Sample rate the weights were trained at")] = 16_000,
    as_json: JsonOpt = False,
) -> None:
    """Turn a plain or wrapped state_dict plus a config JSON into a wux checkpoint."""
    from wux.model.checkpoint import import_state_dict, save_checkpoint
    from wux.model.config import load_config_json

    ckpt = import_state_dict(state_dict, load_config_json(config), sample_rate)
    save_checkpoint(ckpt, output)
    result = {"checkpoint": str(output), "sha256": ckpt.sha256, "tensors": len(ckpt.state_dict)}
    emit(result, as_json, lambda r: typer.echo(f"wrote {r['checkpoint']} ({r['tensors']} tensors)"))


# ---------------------------------------------------------------- data, training, evaluation


@data_app.command("synth")
def data_synth(
    out: Annotated[Path, typer.Argument(help="Output folder (VoiceBank+DEMAND layout)")],
    minutes: Annotated[float, typer.Option(help="Approximate minutes of speech, both splits")] = 10.0,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same corpus")] = 0,
    test_share: Annotated[float, typer.Option(help="Share of utterances in the test split")] = 0.15,
    force: Annotated[bool, typer.Option(help="Replace an existing folder")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Synthesise a speech-in-noise corpus offline with espeak-ng."""
    from wux.data.synth import synthesize_corpus
    from wux.progress import progress_bar

    with progress_bar("speaking", None, not as_json) as advance:
        summary = synthesize_corpus(out, minutes=minutes, seed=seed, test_share=test_share,
                                    force=force, progress=lambda done, total: advance())
    emit(summary, as_json, lambda s: console().print(kv_table(f"corpus {s.root}", s.to_dict())))


def augment_options(no_augment: bool, no_extra_noise: bool, no_speed: bool, no_reverb: bool, no_gain: bool,
                    probability: float):
    from wux.data.augment import AugmentConfig

    if no_augment:
        return AugmentConfig.off()
    return AugmentConfig(extra_noise=not no_extra_noise, speed=not no_speed,
                         reverb=not no_reverb, gain=not no_gain, probability=probability)


@app.command()
def train(
    data: Annotated[Path, typer.Argument(help="Folder in the VoiceBank+DEMAND layout")],
    out: Annotated[Path, typer.Option(help="Best checkpoint is written here")],
    preset: Annotated[str, typer.Option(help="Model preset: default, seed, original, tiny")] = "default",
    config: Annotated[Optional[Path], typer.Option(help="Model config JSON (overrides --preset)")] = None,
    epochs: Annotated[int, typer.Option()] = 20,
    max_minutes: Annotated[Optional[float], typer.Option(help="Stop after this wall time")] = None,
    batch_size: Annotated[int, typer.Option()] = 16,
    segment: Annotated[int, typer.Option(help="Training segment length, samples")] = 16_384,
    lr: Annotated[float, typer.Option()] = 1e-3,
    accumulate: Annotated[int, typer.Option(help="Gradient accumulation steps")] = 1,
    segments_per_epoch: Annotated[Optional[int], typer.Option(help="Segments per epoch (default: audio once)")] = None,
    val_share: Annotated[float, typer.Option(help="Share of training files held out for validation")] = 0.05,
    level_weight: Annotated[float, typer.Option(help="Weight of the output-level term")] = 0.1,
    clip_grad: Annotated[float, typer.Option(help="Max gradient norm (0: no clipping)")] = 10.0,
    seed: Annotated[int, typer.Option()] = 0,
    device: Annotated[str, typer.Option(help="cpu or cuda")] = "cpu",
    threads: Annotated[Optional[int], typer.Option(help="torch CPU threads")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the .last checkpoint beside --out")] = False,
    tensorboard: Annotated[Optional[Path], typer.Option(help="TensorBoard log folder")] = None,
    no_augment: Annotated[bool, typer.Option(help="Disable all augmentation")] = False,
    no_extra_noise: Annotated[bool, typer.Option()] = False,
    no_speed: Annotated[bool, typer.Option()] = False,
    no_reverb: Annotated[bool, typer.Option()] = False,
    no_gain: Annotated[bool, typer.Option()] = False,
    augment_probability: Annotated[float, typer.Option(help="Chance each enabled augmentation is applied")] = 0.5,
    as_json: JsonOpt = False,
) -> None:
    """Train a Wave-U-Net with SI-SNR loss; the best validation checkpoint is kept."""
    from wux.model.config import load_config_json
    from wux.model.config import preset as get_preset
    from wux.train.loop import TrainConfig
    from wux.train.loop import train as run_training

    model_cfg = load_config_json(config) if config else get_preset(preset)
    cfg = TrainConfig(
        data=data, out=out, model=model_cfg, epochs=epochs, max_minutes=max_minutes,
        batch_size=batch_size, segment=segment, lr=lr, accumulate=accumulate,
        segments_per_epoch=segments_per_epoch, val_share=val_share,
        level_weight=level_weight, clip_grad_norm=clip_grad or None, seed=seed, device=device, threads=threads,
        resume=resume,
        tensorboard=tensorboard,
        augment=augment_options(no_augment, no_extra_noise, no_speed, no_reverb, no_gain, augment_probability),
    )
    result = run_training(cfg, show_progress=not as_json)

    def render(r):
        from rich.table import Table

        t = Table(title=f"training -> {r.checkpoint}")
        for col in ("epoch", "steps", "train loss", "val SI-SNR dB", "lr", "s"):
            t.add_column(col, justify="right")
        for h in r.history:
            t.add_row(str(h.epoch), str(h.steps), f"{h.train_loss:.3f}", f"{h.val_si_snr_db:.2f}",
                      f"{h.lr:.2g}", f"{h.seconds:.0f}")
        console().print(t)
        typer.echo(f"best validation SI-SNR {r.best_val_si_snr_db:.2f} dB after {r.steps} steps, "
                   f"{r.minutes:.1f} min")

    emit(result, as_json, render)


@app.command("eval")
def eval_(
    checkpoint: CheckpointArg = None,
    data: Annotated[Path, typer.Option(help="Folder in the VoiceBank+DEMAND layout")] = Path("data"),
    split: Annotated[str, typer.Option(help="train or test")] = "test",
    limit: Annotated[Optional[int], typer.Option(help="Score only the first N files")] = None,
    per_file: Annotated[bool, typer.Option(help="Include per-file scores in --json")] = False,
    as_json: JsonOpt = False,
) -> None:
    """SI-SNR of input and output and the improvement; PESQ and STOI when installed."""
    from wux.train.evaluate import evaluate

    result = evaluate(checkpoint, data, split, limit, show_progress=not as_json)
    if not per_file:
        result = dataclasses.replace(result, per_file=[])

    def render(r):
        rows = {k: (f"{v:.3f}" if isinstance(v, float) else v)
                for k, v in r.to_dict().items() if k != "per_file"}
        console().print(kv_table("wux eval", rows))

    emit(result, as_json, render)


@app.command()
def denoise(
    inputs: Annotated[list[Path], typer.Argument(help="WAV/FLAC files or folders")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output file (one input) or folder")],
    checkpoint: Annotated[Optional[Path], typer.Option(help="wux checkpoint (default: bundled)")] = None,
    url: Annotated[Optional[str], typer.Option(help="Denoise through Triton at HOST:PORT instead")] = None,
    protocol: Annotated[str, typer.Option(help="grpc or http (with --url)")] = "grpc",
    model: Annotated[str, typer.Option(help="Front model name (with --url)")] = "waveunet",
    mode: Annotated[str, typer.Option(help="server: the front model windows; client: windows sent here")] = "server",
    shared_memory: Annotated[bool, typer.Option(help="Pass tensors through system shared memory (same host)")] = False,
    window: Annotated[int, typer.Option(help="Window length, samples (in-process)")] = DEFAULT_CHUNK,
    batch_size: Annotated[int, typer.Option(help="Windows per forward pass (in-process)")] = 8,
    downmix: Annotated[bool, typer.Option(help="Average multi-channel input to mono")] = False,
    resample: Annotated[bool, typer.Option(help="Resample input to the model's rate")] = False,
    device: Annotated[str, typer.Option(help="cpu or cuda (in-process)")] = "cpu",
    as_json: JsonOpt = False,
) -> None:
    """Denoise audio files in-process, or through a Triton server with --url."""
    from wux.denoise import denoise_files, denoise_wave, plan_for_model
    from wux.progress import progress_bar

    if url:
        from wux.clients.triton import TritonDenoiser

        client = TritonDenoiser(url, model, protocol, mode, shared_memory=shared_memory)
        fn, rate, source = client.denoise, client.info.sample_rate, f"triton {url} {model} ({protocol}, {mode})"
    else:
        from wux.model.checkpoint import load_checkpoint
        from wux.model.runner import TorchRunner

        ckpt = load_checkpoint(checkpoint)
        plan = plan_for_model(ckpt.config, window=window)
        runner = TorchRunner(ckpt.build_model(), device)

        def fn(wave):
            return denoise_wave(runner, wave, plan, batch_size)

        rate, source = ckpt.sample_rate, str(ckpt.path)
    with progress_bar("denoising", None, not as_json) as advance:
        results = denoise_files(inputs, output, fn, rate, downmix=downmix, resample=resample,
                                progress=lambda _: advance())
    payload = {"source": source, "files": [r.to_dict() for r in results]}

    def render(p):
        for f in p["files"]:
            typer.echo(f"{f['input']} -> {f['output']} ({f['seconds']:.2f} s)")

    emit(payload, as_json, render)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo's WAV files")] = Path("demo_out"),
    checkpoint: CheckpointArg = None,
    triton: Annotated[bool, typer.Option(help="Also run export -> repository -> tritonserver -> client")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Denoise the bundled noisy sample with the default model and measure the SI-SNR gain."""
    from wux.demo import run_demo, run_triton_demo

    result = run_demo(out, checkpoint)

    def render(r):
        typer.echo(f"noisy    {r.noisy}\ndenoised {r.denoised}\nclean    {r.clean}")
        typer.echo(f"SI-SNR before {r.si_snr_before_db:.2f} dB, after {r.si_snr_after_db:.2f} dB, "
                   f"improvement {r.si_snr_improvement_db:+.2f} dB ({r.seconds:.2f} s of audio, "
                   f"denoised in {r.wall_seconds:.2f} s)")

    if not triton:
        emit(result, as_json, render)
        return
    served = run_triton_demo(out, checkpoint)

    def render_both(pair):
        render(pair[0])
        t = pair[1]
        typer.echo(f"Triton: exported {t.export}, repository {t.repo}, served {', '.join(t.served_models)}")
        typer.echo(f"through Triton: {t.denoised}: SI-SNR {t.si_snr_after_db:.2f} dB vs clean; "
                   f"{t.si_snr_vs_in_process_db:.1f} dB vs in-process onnxruntime (same signal above 60 dB)")

    if as_json:
        typer.echo(json.dumps({"in_process": result.to_dict(), "triton": served.to_dict()}, indent=2))
    else:
        render_both((result, served))


# ---------------------------------------------------------------- export, verify, bench


def parity_table(report):
    from rich.table import Table

    t = Table(title=f"parity vs PyTorch FP32 ({report.device}) - {report.checkpoint}")
    for col in ("artifact", "cases", "max abs err", "p99 abs err", "rel L2", "min SI-SNR dB", "tolerance", "verdict"):
        t.add_column(col, justify="right" if col not in ("artifact", "verdict", "tolerance") else "left")
    for a in report.artifacts:
        tol = a.tolerance
        tol_text = " & ".join(x for x in (
            f"abs<={tol.max_abs:g}" if tol.max_abs is not None else "",
            f"SI-SNR>={tol.min_si_snr_db:g}" if tol.min_si_snr_db is not None else "") if x)
        snr = "-" if a.worst_si_snr_db is None else f"{a.worst_si_snr_db:.1f}"
        verdict = "[green]PASS" if a.passed else f"[red]FAIL ({a.failed_cases}/{a.cases})"
        t.add_row(a.artifact, str(a.cases), f"{a.worst_max_abs_err:.2e}", f"{a.worst_p99_abs_err:.2e}",
                  f"{a.worst_rel_l2_err:.2e}", snr, tol_text, verdict)
    return t


def print_parity(report) -> None:
    out = console()
    out.print(parity_table(report))
    if not report.checkpoint_matches_manifest:
        out.print(f"[yellow]note: {report.checkpoint} is not the checkpoint these artifacts were exported from",
                  soft_wrap=True)
    for s in report.skipped:
        out.print(f"skipped {s}", soft_wrap=True)
    for a in report.artifacts:
        if not a.passed:
            w = a.would_pass_with
            snr = "" if w.min_si_snr_db is None else f" --min-si-snr {w.min_si_snr_db:.1f}"
            out.print(f"[red]{a.artifact}[/red] first failure: {a.first_failure}; "
                      f"it would have passed with --atol {w.max_abs:.3g}{snr}", soft_wrap=True)


def split_list(values: list[str]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


@app.command()
def export(
    checkpoint: CheckpointArg = None,
    to: Annotated[Optional[list[str]], typer.Option("--to", help="torchscript, onnx, trt (repeatable)")] = None,
    out: Annotated[Path, typer.Option(help="Output folder (refused if it exists, unless --force)")] = Path("build"),
    precision: Annotated[Optional[list[str]], typer.Option(help="fp32, fp16 (repeatable)")] = None,
    opset: Annotated[int, typer.Option(help="ONNX opset")] = 18,
    max_batch: Annotated[int, typer.Option(help="Largest batch the artifacts accept")] = 8,
    chunk: Annotated[int, typer.Option(help="Fixed window length the serving side sends, samples")] = DEFAULT_CHUNK,
    min_len: Annotated[Optional[int], typer.Option(help="Shortest input, samples (default chunk/4)")] = None,
    opt_len: Annotated[Optional[int], typer.Option(help="Length to optimise for (default chunk)")] = None,
    max_len: Annotated[Optional[int], typer.Option(help="Longest input, samples (default 4 x chunk)")] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda")] = "cpu",
    opt_level: Annotated[int, typer.Option(help="TensorRT builder optimization level 0-5")] = 3,
    version_compatible: Annotated[bool, typer.Option(help="Build version-compatible TensorRT plans")] = False,
    timing_cache: Annotated[Optional[Path], typer.Option(help="TensorRT timing cache, reused across builds")] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing output folder")] = False,
    no_verify: Annotated[bool, typer.Option("--no-verify", help="Skip the parity gate")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Export TorchScript / ONNX / TensorRT artifacts with a manifest, verified against PyTorch."""
    from wux.export.api import ExportRequest, ParityError, export_artifacts
    from wux.export.spec import make_spec
    from wux.model.checkpoint import load_checkpoint

    stride = load_checkpoint(checkpoint).config.total_stride
    spec = make_spec(chunk, max_batch, min_len, opt_len, max_len, opset, device, stride)
    request = ExportRequest(formats=tuple(split_list(to or ["torchscript", "onnx"])),
                            precisions=tuple(split_list(precision or ["fp32"])), spec=spec,
                            verify=not no_verify, optimization_level=opt_level,
                            version_compatible=version_compatible, timing_cache=timing_cache)
    try:
        result = export_artifacts(checkpoint, out, request, force=force, show_progress=not as_json)
    except ParityError as e:
        if as_json:
            typer.echo(json.dumps({"passed": False, "verification": e.report.to_dict(with_cases=False)}, indent=2))
        else:
            print_parity(e.report)
            typer.echo(f"error: {e}; nothing was written to {out} (use --no-verify to keep the artifacts)", err=True)
        raise typer.Exit(1) from None

    def render(r):
        for a in r.manifest.artifacts:
            typer.echo(f"{a.key:18} {Path(r.folder) / a.file}  {a.bytes / 1e6:.2f} MB  sha256 {a.sha256[:12]}")
        for n in r.notes:
            typer.echo(f"note: {n}")
        if r.verification:
            print_parity(r.verification)
        else:
            typer.echo("parity NOT checked (--no-verify); run `wux verify` before serving these")

    emit(result, as_json, render)


@app.command()
def verify(
    folder: Annotated[Path, typer.Argument(help="Folder written by `wux export`")],
    checkpoint: Annotated[Optional[Path], typer.Option(help="Reference checkpoint (default: the manifest's)")] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda")] = "cpu",
    atol: Annotated[Optional[float], typer.Option(help="Override the max abs error bound")] = None,
    min_si_snr: Annotated[Optional[float], typer.Option(help="Override the SI-SNR floor, dB")] = None,
    cases: Annotated[bool, typer.Option(help="Include every case in --json")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Check every artifact against the PyTorch reference on speech, noise, silence, clipping, impulses."""
    from wux.verify.parity import verify_folder

    report = verify_folder(folder, checkpoint, device, atol, min_si_snr, show_progress=not as_json)
    if as_json:
        typer.echo(json.dumps(report.to_dict(with_cases=cases), indent=2, default=str))
    else:
        print_parity(report)
    if not report.passed:
        raise typer.Exit(1)


@app.command()
def bench(
    folder: Annotated[Path, typer.Argument(help="Folder written by `wux export`")],
    formats: Annotated[Optional[list[str]], typer.Option("--formats", help="Only these formats")] = None,
    batch: Annotated[str, typer.Option(help="Batch sizes, comma separated")] = "1,8",
    samples: Annotated[Optional[int], typer.Option(help="Samples per item (default: the manifest's chunk)")] = None,
    seconds: Annotated[float, typer.Option(help="Measured time per runner and batch")] = 1.0,
    device: Annotated[str, typer.Option(help="cpu or cuda")] = "cpu",
    threads: Annotated[Optional[int], typer.Option(help="torch and onnxruntime threads")] = None,
    as_json: JsonOpt = False,
) -> None:
    """In-process throughput of each artifact next to eager PyTorch, measured in the same run."""
    from wux.perf.bench import bench_folder

    report = bench_folder(folder, split_list(formats) if formats else None,
                          tuple(int(b) for b in batch.split(",")), samples, seconds, device, threads)

    def render(r):
        from rich.table import Table

        t = Table(title=f"wux bench {r.folder} ({r.device}, torch threads {r.torch_threads}, "
                        f"onnxruntime threads {r.ort_threads})")
        for col in ("runner", "batch", "samples", "runs", "median ms", "p10-p90 ms", "x realtime", "GMAC/s",
                    "% of peak", "vs eager"):
            t.add_column(col, justify="left" if col == "runner" else "right")
        for row in r.rows:
            t.add_row(row.runner, str(row.batch), str(row.samples), str(row.runs), f"{row.median_ms:.2f}",
                      f"{row.p10_ms:.2f}-{row.p90_ms:.2f}", f"{row.real_time_factor:.1f}", f"{row.gmacs_per_s:.1f}",
                      f"{100 * row.peak_fraction:.0f}%" if row.peak_fraction else "-",
                      f"{row.speedup_vs_eager:.2f}x")
        console().print(t)
        typer.echo(f"peak (measured FP32 1024^3 matmul): {r.peak_gmacs_per_s:.1f} GMAC/s")
        for s in r.skipped:
            typer.echo(f"skipped {s}")

    emit(report, as_json, render)


# ---------------------------------------------------------------- Triton


@app.command()
def triton(
    folder: Annotated[Path, typer.Argument(help="Folder written by `wux export`")],
    repo: Annotated[Path, typer.Option(help="Repository folder to create")] = Path("triton_repo"),
    name: Annotated[str, typer.Option(help="Name of the front model (core models get _FORMAT)")] = "waveunet",
    formats: Annotated[Optional[str], typer.Option(help="onnx,trt,torchscript,python (default: all + python)")] = None,
    core: Annotated[str, typer.Option(help="Core model format the front model calls")] = "python",
    max_batch: Annotated[Optional[int], typer.Option(help="Dynamic batching limit (default: the manifest's)")] = None,
    instances: Annotated[int, typer.Option(help="Instances per model")] = 1,
    kind: Annotated[str, typer.Option(help="cpu, gpu or auto")] = "auto",
    preferred_batch: Annotated[Optional[str], typer.Option(help="Preferred batch sizes, e.g. 4,8")] = None,
    queue_delay_us: Annotated[int, typer.Option(help="Max queue delay for dynamic batching, us")] = 500,
    warmup: Annotated[bool, typer.Option(help="Warm models up with real speech")] = True,
    ort_trt: Annotated[bool, typer.Option(help="ONNX Runtime TensorRT accelerator for the onnx model")] = False,
    force: Annotated[bool, typer.Option(help="Replace an existing repository")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Generate a Triton model repository (every format + python + a long-audio front model)."""
    from wux.triton_repo.config import KINDS, ServingOptions
    from wux.triton_repo.generate import RepoRequest, generate_repository

    if kind not in KINDS:
        raise WuxError(f"--kind must be one of {', '.join(KINDS)}")
    options = ServingOptions(max_batch=max_batch, instances=instances, kind=kind, queue_delay_us=queue_delay_us,
                             preferred_batch=tuple(int(b) for b in split_list([preferred_batch or ""])),
                             warmup=warmup, ort_trt=ort_trt)
    request = RepoRequest(name=name, formats=tuple(split_list([formats])) if formats else None, core=core,
                          options=options)
    result = generate_repository(folder, repo, request, force=force)

    def render(r):
        for m in r.models:
            typer.echo(f"{m.name:24} {m.role:5} {m.kind:18} {m.source or ''}")
        for n in r.notes:
            typer.echo(f"note: {n}")
        typer.echo(f"wrote {r.repo} (see {r.repo}/README.md)")

    emit(result, as_json, render)


@app.command()
def serve(
    repo: Annotated[Path, typer.Argument(help="Repository written by `wux triton`")],
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
    http_port: Annotated[int, typer.Option()] = 8000,
    grpc_port: Annotated[int, typer.Option()] = 8001,
    metrics_port: Annotated[int, typer.Option()] = 8002,
    tritonserver: Annotated[Optional[Path], typer.Option(help="tritonserver binary (default: PATH, the wheel)")] = None,
) -> None:
    """Run tritonserver on the repository until Ctrl-C / SIGTERM; says which models it cannot load."""
    import signal as signals
    import time

    from wux.triton_repo.server import TritonServer

    server = TritonServer(repo, host, http_port, grpc_port, metrics_port, tritonserver)
    stop = {"requested": False}

    def request_stop(signum, frame):
        stop["requested"] = True

    signals.signal(signals.SIGTERM, request_stop)
    with server as info:
        for model, why in info.skipped_models.items():
            typer.echo(f"not served: {model} ({why})")
        typer.echo(f"ready: {', '.join(info.ready_models)}")
        typer.echo(f"HTTP {info.http_url}  gRPC {info.grpc_url}  metrics {info.host}:{info.metrics_port}  "
                   f"pid {info.pid}")
        try:
            while not stop["requested"] and server.process.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        died = server.process.poll() is not None
    typer.echo(f"tritonserver stopped (exit code {server.process.returncode})")
    if died:
        raise WuxError(f"tritonserver exited on its own: {server.last_error()}")


# ---------------------------------------------------------------- perf


@app.command()
def perf(
    url: Annotated[str, typer.Option(help="Triton gRPC endpoint HOST:PORT")] = "127.0.0.1:8001",
    model: Annotated[str, typer.Option(help="Model to load (a wux front model or a core model)")] = "waveunet",
    concurrency_range: Annotated[str, typer.Option(help="Levels: 1:8:1 (start, end, step) or a list 1,2,4")] = "1",
    request_rate_range: Annotated[Optional[str], typer.Option(help="Requests/s, open loop: 10:50:10")] = None,
    distribution: Annotated[str, typer.Option(help="constant or poisson arrivals (request-rate mode)")] = "constant",
    lengths: LengthsOpt = None,
    measurement_interval_ms: IntervalOpt = 5000,
    stability_percentage: StabilityOpt = 10.0,
    max_trials: MaxTrialsOpt = 10,
    percentile: Annotated[Optional[int], typer.Option(help="Stabilise on this latency percentile")] = None,
    validate: Annotated[bool, typer.Option(help="Check responses against in-process onnxruntime")] = False,
    validate_share: Annotated[float, typer.Option(help="Share of responses validated")] = 0.2,
    export: Annotated[Optional[Path], typer.Option(help="Reference for --validate: an export folder")] = None,
    checkpoint: Annotated[Optional[Path], typer.Option(help="Reference without --export (default: bundled)")] = None,
    input_data: InputDataOpt = None,
    csv_path: Annotated[Optional[Path], typer.Option("-f", "--csv", help="perf_analyzer-style CSV")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="PNG: latency percentiles against throughput")] = None,
    as_json: JsonOpt = False,
) -> None:
    """perf_analyzer-style load: throughput in infer/s and audio-s/s, latency percentiles, server breakdown."""
    from wux.perf.loadgen import PerfConfig, parse_lengths, parse_range, run_perf
    from wux.perf.report import write_csv, write_plot

    if distribution not in ("constant", "poisson"):
        raise WuxError("--distribution must be constant or poisson")
    cfg = PerfConfig(url=url, model=model, concurrency=parse_range(concurrency_range),
                     request_rates=parse_range(request_rate_range, float) if request_rate_range else (),
                     distribution=distribution,
                     lengths=parse_lengths(lengths) if lengths else (), measurement_interval_ms=measurement_interval_ms,
                     stability_percentage=stability_percentage, max_trials=max_trials, percentile=percentile,
                     validate_share=validate_share if validate else 0.0, validate_export=export,
                     validate_checkpoint=checkpoint, input_data=input_data)
    report = run_perf(cfg, show_progress=not as_json)
    if csv_path and report.levels:
        write_csv(csv_path, report.levels)
    if plot and report.levels:
        write_plot(plot, report.levels, f"{model} @ {url}")

    def render(r):
        from rich.table import Table

        t = Table(title=f"wux perf {r.model} @ {r.url}")
        rate_mode = bool(r.levels and r.levels[0].request_rate)
        cols = ("rate/s" if rate_mode else "conc", "stable", "infer/s", "audio-s/s", "avg ms", "p50", "p90", "p95",
                "p99", "queue ms",
                "infer ms", "errors", "validated (failed)", "client CPU %")
        for col in cols:
            t.add_column(col, justify="right")
        for lv in r.levels:
            level = f"{lv.request_rate:g}" if rate_mode else str(lv.concurrency)
            t.add_row(level, "yes" if lv.stable else f"[yellow]no ({lv.trials})",
                      f"{lv.throughput_infer_per_s:.1f}", f"{lv.throughput_audio_s_per_s:.1f}",
                      f"{lv.latency_avg_ms:.1f}", f"{lv.latency_p50_ms:.1f}", f"{lv.latency_p90_ms:.1f}",
                      f"{lv.latency_p95_ms:.1f}", f"{lv.latency_p99_ms:.1f}", f"{lv.server_queue_ms:.1f}",
                      f"{lv.server_compute_infer_ms:.1f}", str(lv.errors),
                      f"{lv.validated} ({lv.validation_failures})", f"{lv.client_cpu_percent:.0f}")
        console().print(t)

    emit(report, as_json, render)
    if report.error:
        typer.echo(f"error: {report.error}", err=True)
        raise typer.Exit(2)
    if any(lv.validation_failures for lv in report.levels):
        raise typer.Exit(1)



@app.command()
def tune(
    url: Annotated[str, typer.Option(help="Triton gRPC endpoint (explicit model control)")] = "127.0.0.1:8001",
    model: Annotated[str, typer.Option(help="Model whose config is searched")] = "waveunet_python",
    via: Annotated[Optional[str], typer.Option(help="Send the load through this model (e.g. the front model)")] = None,
    p99_budget_ms: Annotated[Optional[float], typer.Option(help="Best = top throughput with p99 within this")] = None,
    max_batch: Annotated[Optional[str], typer.Option(help="Max batches to try (default: 1, half, served max)")] = None,
    preferred_batch: Annotated[str, typer.Option(help="Preferred batch choices: default,4,2+4")] = "default",
    queue_delay_us: Annotated[str, typer.Option(help="Queue delays to try, microseconds")] = "0,500,2000",
    instances: Annotated[str, typer.Option(help="Instance counts to try")] = "1,2",
    threads: Annotated[Optional[str], typer.Option(help="onnxruntime threads per instance to try (0: all)")] = None,
    concurrency: Annotated[str, typer.Option(help="Levels per config: 1,2,4,8 or 1:8:1")] = "1,2,4,8",
    lengths: LengthsOpt = None,
    input_data: InputDataOpt = None,
    measurement_interval_ms: IntervalOpt = 1000,
    stability_percentage: StabilityOpt = 10.0,
    max_trials: MaxTrialsOpt = 6,
    min_gain_percent: Annotated[float, typer.Option(help="A change must beat the served config by more")] = 5.0,
    repo: Annotated[Optional[Path], typer.Option(help="The repository the server was started with")] = None,
    write: Annotated[bool, typer.Option(help="Write the best config into --repo and load it")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Search dynamic batching and instance counts on a live server; report the best within a p99 budget."""
    from wux.perf.loadgen import parse_lengths, parse_list, parse_range
    from wux.perf.tune import TuneConfig, parse_preferred, run_tune

    cfg = TuneConfig(url=url, model=model, via=via, p99_budget_ms=p99_budget_ms,
                     max_batch=parse_list(max_batch) if max_batch else (),
                     preferred_batch=parse_preferred(preferred_batch),
                     queue_delay_us=parse_list(queue_delay_us, minimum=0), instances=parse_list(instances),
                     threads=parse_list(threads, minimum=0) if threads else (),
                     concurrency=parse_range(concurrency), lengths=parse_lengths(lengths) if lengths else (),
                     input_data=input_data, measurement_interval_ms=measurement_interval_ms,
                     stability_percentage=stability_percentage, max_trials=max_trials,
                     min_gain_percent=min_gain_percent, repo=repo, write=write)
    report = run_tune(cfg, show_progress=not as_json)

    def render(r):
        from rich.table import Table

        budget = f", p99 <= {r.p99_budget_ms:g} ms" if r.p99_budget_ms else ""
        t = Table(title=f"wux tune {r.model} (load through {r.via}) @ {r.url}{budget}")
        for col in ("#", "max batch", "preferred", "delay us", "instances", "threads", "best conc", "infer/s",
                    "audio-s/s", "p50 ms", "p99 ms", "stable", "note"):
            t.add_column(col, justify="right")
        for i, trial in enumerate(r.trials):
            s = trial.applied or trial.requested
            b = trial.best
            note = "; ".join(x for x in (trial.role if trial.role != "candidate" else "",
                                         trial.error or ("" if b else "no level within budget")) if x)
            cells = ([str(s.max_batch), ",".join(map(str, s.preferred_batch)) or "-", str(s.queue_delay_us),
                      str(s.instances), "-" if s.threads is None else str(s.threads or "all")] if s else ["-"] * 5)
            nums = ([str(b.concurrency), f"{b.throughput_infer_per_s:.1f}", f"{b.throughput_audio_s_per_s:.1f}",
                     f"{b.latency_p50_ms:.1f}", f"{b.latency_p99_ms:.1f}", "yes" if b.stable else "no"]
                    if b else ["-"] * 6)
            style = "bold green" if i == r.best_trial else None
            t.add_row(str(i), *cells, *nums, note, style=style)
        console().print(t)
        if r.noise_percent is not None:
            console().print(f"noise: the served config's two measurements differ by {r.noise_percent:.1f} %; "
                            f"throughputs within {r.margin_percent:.1f} % of the top count as equal")
        if r.best is not None:
            ratio = f" = {r.throughput_vs_baseline:.2f}x the served config" if r.throughput_vs_baseline else ""
            console().print(f"best: #{r.best_trial} {r.best.best.throughput_infer_per_s:.1f} infer/s at concurrency "
                            f"{r.best.best.concurrency}, p99 {r.best.best.latency_p99_ms:.1f} ms{ratio}")
            if r.best.role != "candidate":
                console().print("no candidate beats the served config by more than the margin: keep it")
        if r.written:
            console().print(f"written: {r.written} (and loaded)")
        elif r.restored:
            console().print("the served config was restored")

    emit(report, as_json, render)
    if report.error:
        typer.echo(f"error: {report.error}", err=True)
        raise typer.Exit(2)
    if report.best is None:
        what = f"met p99 <= {p99_budget_ms:g} ms without errors" if p99_budget_ms else "ran without errors"
        typer.echo(f"error: no configuration {what}; nothing written", err=True)
        raise typer.Exit(1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
