"""The `wux` command line: parse, call one library function, render its result.

Exit codes are wux.errors' policy, applied here once: WuxError -> its exit_code (2, or 1 for a
failed verdict), usage errors -> 2, Ctrl-C -> 130, each as one line on stderr.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import typer

from wux import cli_options as parse
from wux import render
from wux.cli_options import (
    CheckpointArg,
    CheckpointOpt,
    DeviceOpt,
    InputDataOpt,
    IntervalOpt,
    JsonOpt,
    LengthsOpt,
    MaxTrialsOpt,
    ModelOptions,
    Precision,
    Protocol,
    StabilityOpt,
    ValByOpt,
    ValShareOpt,
    refuse_unused,
    server_url,
    takes_model,
)
from wux.data import DEFAULT_SPEED_PERCENT, SPEED_PERCENT_RANGE
from wux.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_OK, EXIT_VERDICT, WuxError
from wux.export.spec import DEFAULT_OPSET, MIN_OPSET
from wux.fsutil import check_new_output, is_or_holds, shown_path
from wux.model.config import PRESETS
from wux.progress import progress_bar, progress_mode
from wux.quality import BASELINE_NAMES
from wux.train import (
    COSINE,
    DEFAULT_DC_WEIGHT,
    DEFAULT_LEVEL_WEIGHT,
    DEFAULT_LR,
    DEFAULT_LR_PATIENCE,
    DEFAULT_LR_SCHEDULE,
    LR_SCHEDULES,
    PLATEAU,
    TRAIN_PRECISIONS,
)


def click_error(e: BaseException) -> str | None:
    """The kind of a click usage error (typer vendors click in recent releases: match by name, not import)."""
    names = [c.__name__ for c in type(e).__mro__]
    return names[0] if "ClickException" in names else None


def interrupted(signum, frame):
    raise KeyboardInterrupt


NOT_INSTALLED = object()


def on_sigterm_as_ctrl_c():
    """SIGTERM (kill, timeout, a container stopping) takes Ctrl-C's path: temporary outputs removed, servers
    stopped, "error: interrupted". Returns the handler it replaced (NOT_INSTALLED off the main thread, where it
    cannot be)."""
    if threading.current_thread() is not threading.main_thread():
        return NOT_INSTALLED
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, interrupted)
    return signal.SIG_DFL if previous is None else previous  # None: set outside Python, not restorable from it


class WuxGroup(typer.core.TyperGroup):
    """Every failure is one line on stderr with the policy's exit code; other errors keep their traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except WuxError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("error: interrupted", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except OSError as e:  # a file the system refused (missing folder, permissions, disk full): the environment
            if e.filename is None:
                raise
            typer.echo(f"error: {shown_path(e.filename)}: {e.strerror}", err=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        previous = on_sigterm_as_ctrl_c()
        try:
            rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var, standalone_mode=False,
                              **extra)
            code = rv if type(rv) is int else EXIT_OK  # an Exit's code (bools and return values are not codes)
        except Exception as e:
            kind = click_error(e)
            if kind is None:
                raise
            message = e.format_message()
            if kind != "NoArgsIsHelpError":  # `wux` alone printed the help: not an error line
                typer.echo(f"error: {message}", err=True)
            code = EXIT_BAD_INPUT
        except typer.Abort:
            typer.echo("error: interrupted", err=True)
            code = EXIT_INTERRUPTED
        finally:
            if previous is not NOT_INSTALLED:
                signal.signal(signal.SIGTERM, previous)
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(
    cls=WuxGroup, name="wux", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="PyTorch speech denoisers: model -> verified export -> Triton -> measured serving.",
)
data_app = typer.Typer(no_args_is_help=True, help="Make and inspect data sets.")
app.add_typer(data_app, name="data")


def version_callback(value: bool) -> None:
    if value:
        from wux import __version__

        typer.echo(f"wux {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(version: Annotated[bool, typer.Option("--version", callback=version_callback, is_eager=True,
                                                       help="Print wux's version and exit.")] = False) -> None:
    """PyTorch speech denoisers: model -> verified export -> Triton -> measured serving."""


# ---------------------------------------------------------------- output and exit codes


def emit(result: Any, as_json: bool, render_fn) -> None:
    """Print `result` as JSON, or through `render_fn(result)` for people."""
    if as_json:
        data = result.to_dict() if hasattr(result, "to_dict") else result
        typer.echo(json.dumps(data, indent=2, default=str))
    else:
        render_fn(result)


def verdict(passed: bool) -> None:
    if not passed:
        raise typer.Exit(EXIT_VERDICT)


def run_until_verdict(call, as_json: bool, render_fn):
    """Run `call()`; a failed verdict still prints the numbers behind it (then exit 1)."""
    from wux.errors import VerdictError

    try:
        return call()
    except VerdictError as e:
        if e.result is not None:
            emit(e.result, as_json, render_fn)
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(e.exit_code) from None


# ---------------------------------------------------------------- environment and model


@app.command()
def doctor(as_json: JsonOpt = False) -> None:
    """Check the environment: Python, torch/CUDA, onnxruntime, TensorRT, Triton tools."""
    from wux.doctor import diagnose

    emit(diagnose(), as_json, render.doctor)


@app.command()
@takes_model
def info(checkpoint: CheckpointArg = None, as_json: JsonOpt = False,
         model_options: ModelOptions = ModelOptions()) -> None:
    """Parameters, MACs per second of audio, and the audio contract (rate, lengths, context, latency)."""
    from wux.model.load import load_model
    from wux.model.report import model_report

    emit(model_report(load_model(model_options.source(checkpoint))), as_json, render.info)


@app.command()
@takes_model
def probe(checkpoint: CheckpointArg = None, as_json: JsonOpt = False,
          model_options: ModelOptions = ModelOptions()) -> None:
    """Measure a model's audio contract: lengths, alignment, receptive field, causality, look-ahead, MACs."""
    from wux.api import probe as probe_model
    from wux.model.load import load_model

    emit(probe_model(load_model(model_options.source(checkpoint))), as_json, render.probe)


@app.command("import")
@takes_model
def import_(
    state_dict: Annotated[Optional[Path], typer.Argument(help="A Wave-U-Net state_dict file (with --config)")] = None,
    config: Annotated[Optional[Path], typer.Option(help="Wave-U-Net config JSON (fields or a preset)")] = None,
    out: Annotated[Path, typer.Option("-o", "--out", help="Where to write the wux checkpoint")] = Path(
        "model.wux.pt"),
    force: Annotated[bool, typer.Option(help="Replace an existing --out")] = False,
    as_json: JsonOpt = False,
    model_options: ModelOptions = ModelOptions(),
) -> None:
    """Make a wux checkpoint: a Wave-U-Net state_dict + config, or --model + --weights (contract recorded)."""
    from wux.model.importer import import_weights

    result = import_weights(out, model_options.source(), state_dict, config, model_options.sample_rate, force=force)
    emit(result, as_json, lambda r: render.imported(r.to_dict()))


# ---------------------------------------------------------------- data, training, evaluation


@data_app.command("synth")
def data_synth(
    out: Annotated[Path, typer.Argument(help="Output folder (VoiceBank+DEMAND layout)")],
    minutes: Annotated[float, typer.Option(help="Approximate minutes of speech, both splits")] = 10.0,
    seed: Annotated[int, typer.Option(min=0, help="Random seed: same seed, same corpus")] = 0,
    test_share: Annotated[float, typer.Option(min=0.01, max=0.99, help="Share of utterances in the test split")] = 0.15,
    force: Annotated[bool, typer.Option(help="Replace an existing folder")] = False,
    recipe: Annotated[str, typer.Option(
        help="rich: espeak-ng + Festival voices, everyday noises, 2-8 talker babble, rooms, SNR -5..20 dB; "
             "classic: espeak-ng and six noise families (the first corpus)")] = "rich",
    as_json: JsonOpt = False,
) -> None:
    """Synthesise a speech-in-noise corpus offline (espeak-ng, Festival), with noise kinds and SNRs in corpus.json."""
    from wux.data.synth import recipe_named, synthesize_corpus

    chosen = recipe_named(recipe)
    with progress_bar("synthesising", None, progress_mode(as_json)) as advance:  # speaking, then mixing
        summary = synthesize_corpus(out, minutes=minutes, seed=seed, test_share=test_share,
                                    force=force, progress=lambda done, total: advance(total=total), recipe=chosen)
    emit(summary, as_json, render.corpus)


Preset = Literal[tuple(PRESETS)]  # wux.model.config: the one list
TrainPrecision = Literal[TRAIN_PRECISIONS]  # wux.train: the one list
LrSchedule = Literal[LR_SCHEDULES]


AUGMENT_OPTIONS = ("extra_noise", "speed", "speed_range", "reverb", "reverb_noise", "gain", "remix",
                   "augment_probability", "fresh_babble")


@app.command()
def train(
    ctx: typer.Context,
    data: Annotated[Path, typer.Argument(help="Folder in the VoiceBank+DEMAND layout")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Best checkpoint is written here")],
    preset: Annotated[Optional[Preset], typer.Option(help="Model preset \\[default: default]")] = None,
    config: Annotated[Optional[Path], typer.Option(help="Model config JSON (overrides --preset)")] = None,
    init: Annotated[Optional[Path], typer.Option(
        help="Start from this wux checkpoint's weights and model config (fine-tuning; a file or a bundled "
             "model's name: default, classic, causal); a fresh optimizer. With --preset or --config naming a "
             "config grown from the checkpoint's (wider: wide-context; more bottleneck dilations appended: "
             "long-context): that model, starting as the checkpoint's", show_default=False)] = None,
    model: Annotated[Optional[str], typer.Option(
        "--model", help="Train a model built by a callable instead of a Wave-U-Net: MODULE:CALLABLE or "
                        "path/to/file.py:CALLABLE (e.g. wux.model.stft_mask:StftMask)")] = None,
    model_kwargs: Annotated[Optional[dict], typer.Option(
        "--model-kwargs", parser=parse.json_object, metavar="JSON",
        help="Keyword arguments for --model, as a JSON object")] = None,
    epochs: Annotated[int, typer.Option(min=1, help="Passes over the training audio")] = 20,
    max_minutes: Annotated[Optional[float], typer.Option(min=0.01, help="Stop after this wall time")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Segments per step")] = 16,
    segment: Annotated[int, typer.Option(min=1024, help="Training segment length, samples")] = 16_384,
    lr: Annotated[Optional[float], typer.Option(
        help=f"Adam learning rate (default {DEFAULT_LR:g}); with --resume, a rate other than the run's own "
             "replaces its decayed one (with --lr-schedule cosine: the curve's top)")] = None,
    restart_lr: Annotated[bool, typer.Option(
        "--restart-lr", help="With --resume: go on at --lr (or the run's own starting rate) even when it is the "
                             "rate the run was given, not at its decayed one")] = False,
    accumulate: Annotated[int, typer.Option(min=1, help="Gradient accumulation steps")] = 1,
    lr_patience: Annotated[int, typer.Option(
        min=0, help="Epochs without a better validation score before the learning rate halves")] = DEFAULT_LR_PATIENCE,
    lr_schedule: Annotated[LrSchedule, typer.Option(
        help="plateau: halve the rate after --lr-patience epochs without a better validation score; cosine: from "
             "--lr down to zero over --epochs on a half cosine, whatever validation says (a run cut short by "
             "--max-minutes stops high on it); a resumed run keeps its own")] = DEFAULT_LR_SCHEDULE,
    segments_per_epoch: Annotated[Optional[int], typer.Option(
        min=1, help="Segments per epoch (default: audio once)")] = None,
    val_share: ValShareOpt = 0.05,
    val_by: ValByOpt = "file",
    level_weight: Annotated[float, typer.Option(
        min=0.0, help="Weight of the output-level term")] = DEFAULT_LEVEL_WEIGHT,
    dc_weight: Annotated[float, typer.Option(
        min=0.0, help="Weight of the DC term: the output's mean held to the clean audio's (SI-SNR cannot see "
                      "an offset); 0 trains as wux did before 2026-12-05; a resumed run takes the command "
                      "line's")] = DEFAULT_DC_WEIGHT,
    snr_cap: Annotated[Optional[float], typer.Option(
        metavar="DB", help="Cap each segment's SI-SNR in the loss softly at DB dB (thresholded SNR): segments "
                           "denoised past it stop pulling, the hard ones (babble, music) get the training's "
                           "attention; a resumed run takes the command line's (default: no cap)")] = None,
    clip_grad: Annotated[float, typer.Option(min=0.0, help="Max gradient norm (0: no clipping)")] = 10.0,
    seed: Annotated[int, typer.Option(min=0, help="Random seed")] = 0,
    device: DeviceOpt = "cpu",
    precision: Annotated[TrainPrecision, typer.Option(
        help="Arithmetic of the passes, weights stay float32: auto (fp16 on CUDA, fp32 on CPU), fp32, bf16 "
             "(faster on CPUs with bfloat16 instructions, slower without; python perf/train_precision.py measures), "
             "fp16 (CUDA)")] = "auto",
    threads: Annotated[Optional[int], typer.Option(min=1, help="torch CPU threads")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the .last checkpoint beside --out")] = False,
    force: Annotated[bool, typer.Option(help="A new run replaces an existing --out and its .last checkpoint")] = False,
    tensorboard: Annotated[Optional[Path], typer.Option(help="TensorBoard log folder")] = None,
    augment: Annotated[bool, typer.Option("--augment/--no-augment", help="All augmentation")] = True,
    extra_noise: Annotated[bool, typer.Option("--extra-noise/--no-extra-noise", help="Add a second noise")] = True,
    speed: Annotated[bool, typer.Option("--speed/--no-speed", help="Speed changes (--speed-range)")] = True,
    speed_range: Annotated[float, typer.Option(
        min=SPEED_PERCENT_RANGE[0], max=SPEED_PERCENT_RANGE[1], metavar="PCT",
        help="Speed changes of up to about +-PCT %: pitch and formants move with them, so a wider range makes "
             "more timbres of the same speakers")] = DEFAULT_SPEED_PERCENT,
    reverb: Annotated[bool, typer.Option("--reverb/--no-reverb", help="Synthetic room reverb")] = True,
    reverb_noise: Annotated[bool, typer.Option(
        "--reverb-noise/--no-reverb-noise",
        help="The room's reverb reaches the noise too (--no-reverb-noise: the speech alone is in the room, the "
             "noise stays as it was, as in the rich corpus's reverberant files)")] = True,
    gain: Annotated[bool, typer.Option("--gain/--no-gain", help="Random level changes")] = True,
    remix: Annotated[bool, typer.Option("--remix/--no-remix",
                                        help="Another file's noise under the speech, at a new SNR")] = True,
    augment_probability: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Chance each enabled augmentation is applied")] = 0.5,
    fresh_babble: Annotated[float, typer.Option(
        min=0.0, max=1.0, metavar="P",
        help="Chance that a segment whose noise is babble gets new babble instead, made of other training "
             "speakers' speech as the corpus made its own, as many talkers (dynamic mixing; needs the corpus's "
             "corpus.json)")] = 0.0,
    noise_weights: Annotated[Optional[list[tuple]], typer.Option(
        parser=parse.kind_weights, metavar="KIND:W[,KIND:W]",
        help="Draw files of these noise kinds W times as often (others 1), by the corpus's corpus.json; "
             "repeatable")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Train a Wave-U-Net (or a model built by --model) with SI-SNR loss; the best validation checkpoint is kept."""
    from wux.data.augment import AugmentConfig
    from wux.train.loop import TrainConfig, model_to_train
    from wux.train.loop import train as run_training

    refuse_unused(ctx, set(AUGMENT_OPTIONS) if augment else set(), "with --no-augment", *AUGMENT_OPTIONS)
    refuse_unused(ctx, {"reverb_noise"} if reverb else set(), "with --no-reverb", "reverb_noise")
    refuse_unused(ctx, {"speed_range"} if speed else set(), "with --no-speed", "speed_range")
    refuse_unused(ctx, {"lr_patience"} if lr_schedule == PLATEAU else set(), f"with --lr-schedule {COSINE}",
                  "lr_patience")
    augmentation = AugmentConfig(extra_noise=extra_noise, speed=speed, speed_percent=speed_range, reverb=reverb,
                                 reverb_noise=reverb_noise,
                                 gain=gain, remix=remix, probability=augment_probability, fresh_babble=fresh_babble
                                 ) if augment else AugmentConfig.off()
    cfg = TrainConfig(
        data=data, out=out, model=model_to_train(preset, config, init, model, model_kwargs), init=init, epochs=epochs,
        max_minutes=max_minutes, batch_size=batch_size, segment=segment, lr=lr, restart_lr=restart_lr,
        lr_patience=lr_patience, lr_schedule=lr_schedule,
        accumulate=accumulate, segments_per_epoch=segments_per_epoch, val_share=val_share, val_by=val_by,
        level_weight=level_weight, snr_cap_db=snr_cap, dc_weight=dc_weight,
        clip_grad_norm=clip_grad or None, seed=seed, device=device, precision=precision, threads=threads, resume=resume,
        force=force,
        tensorboard=tensorboard, augment=augmentation,
        noise_weights=parse.merged_kind_weights(noise_weights),
    )
    # one line an epoch on stderr, --json too (stdout stays one JSON record): a run of hours in a log shows progress
    emit(run_training(cfg, show_progress=not as_json, on_epoch=render.epoch_progress, say=render.note_line),
         as_json, render.training)


@app.command()
def soup(
    members: Annotated[list[Path], typer.Argument(
        help="Two or more wux checkpoints of one architecture (fine-tunes from one start), or bundled models' names",
        show_default=False)],
    out: Annotated[Path, typer.Option("-o", "--out", help="Where to write the averaged checkpoint")],
    ctx: typer.Context,
    data: Annotated[Optional[Path], typer.Option(
        help="Score the soup and each member on this corpus's validation files (its training split's held-out "
             "share, as wux train holds it out: by default with the members' own --val-share and --val-by, as "
             "their training records say) and record the scores in the soup")] = None,
    val_share: ValShareOpt = None,
    val_by: ValByOpt = None,
    greedy: Annotated[bool, typer.Option(
        help="A greedy soup (needs --data): the members added best first on the validation files, each kept only if "
             "the soup with it scores no lower (the best member alone when none helps)")] = False,
    force: Annotated[bool, typer.Option(help="Replace an existing --out")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Average the weights of several checkpoints of one model (a model soup): one model, their average."""
    from wux.model.soup import make_soup
    from wux.train.soup_validation import SoupValidation, make_greedy_soup, soup_scorer

    refuse_unused(ctx, set() if data is None else {"val_share", "val_by", "greedy"}, "without --data", "val_share",
                  "val_by", "greedy")
    validation = None if data is None else SoupValidation(data, val_share, val_by)
    say = render.progress_line  # each model's score as measured, on stderr (--json too: stdout stays its record)
    if greedy:
        result = make_greedy_soup(out, members, validation, force=force, say=say)
    else:
        score = None if validation is None else soup_scorer(validation, say)
        result = make_soup(out, members, force=force, score=score)
    emit(result, as_json, render.soup)


@app.command("eval")
@takes_model
def eval_(
    ctx: typer.Context,
    checkpoint: CheckpointArg = None,
    data: Annotated[Path, typer.Option(help="Folder in the VoiceBank+DEMAND layout")] = Path("data"),
    split: Annotated[Literal["train", "test"], typer.Option(help="Which split to score")] = "test",
    limit: Annotated[Optional[int], typer.Option(min=1, help="Score only the first N files")] = None,
    per_file: Annotated[bool, typer.Option(help="Include per-file scores in --json")] = False,
    noise: Annotated[Optional[list[str]], typer.Option(
        help="Score only files of this noise kind (repeatable), by the corpus's corpus.json")] = None,
    baseline: Annotated[Optional[list[str]], typer.Option(
        help=f"Also run a well-known denoiser on the same files (repeatable): {', '.join(BASELINE_NAMES)} "
             "(pip install 'wux\\[rnnoise]' / 'wux\\[spectral-gating]')")] = None,
    oracle: Annotated[bool, typer.Option(
        help="Also score the ideal ratio mask, made from the clean files: what a magnitude-masking denoiser "
             "reaches when it knows the speech (a yardstick per noise kind, not a ceiling)")] = False,
    as_json: JsonOpt = False,
    model_options: ModelOptions = ModelOptions(),
) -> None:
    """SI-SNR, PESQ-WB and STOI of the model (and baselines) per noise kind and input-SNR band."""
    from dataclasses import replace

    from wux.quality.evaluate import evaluate

    refuse_unused(ctx, {"per_file"} if as_json else set(), "without --json (the table shows groups)", "per_file")
    result = evaluate(model_options.source(checkpoint), data, split, limit, baselines=tuple(baseline or ()),
                      noises=tuple(noise or ()), show_progress=progress_mode(as_json), oracle=oracle)
    emit(result if per_file else replace(result, per_file=[]), as_json, render.evaluation)


# the options each way of denoising uses (by way and --stream); the others are refused when typed
MODEL_NAMING = {"checkpoint", "model", "model_kwargs", "weights", "sample_rate", "contract"}
DENOISE_OPTIONS = {
    ("model", False): {"chunk", "batch_size", "device", *MODEL_NAMING},
    ("export", False): {"fmt", "precision", "batch_size", "device"},
    ("url", False): {"protocol", "served_model", "mode", "shared_memory"},
    ("model", True): {"frame_ms", *MODEL_NAMING},
    ("export", True): {"fmt", "frame_ms"},
    ("url", True): {"served_model", "frame_ms"},
}
DENOISE_WAYS = {"model": "to the model in-process", "export": "with --export", "url": "with --url"}


@app.command()
@takes_model
def denoise(
    ctx: typer.Context,
    inputs: Annotated[list[Path], typer.Argument(help="WAV/FLAC files or folders")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Output file (one input) or folder")],
    checkpoint: CheckpointOpt = None,
    url: Annotated[Optional[list[str]], typer.Option(
        "-u", "--url", help="Denoise through Triton at HOST:PORT instead; repeat for replicas of one repository",
        metavar="HOST:PORT", parser=server_url)
                   ] = None,
    protocol: Annotated[Protocol, typer.Option("-i", "--protocol", help="Wire protocol (with --url)")] = "grpc",
    served_model: Annotated[str, typer.Option("-m", "--served-model", help="Front model name (with --url)")
                            ] = "waveunet",
    mode: Annotated[Literal["server", "client"], typer.Option(
        help="server: the front model windows; client: windows are cut and sent from here (with --url)")] = "server",
    shared_memory: Annotated[bool, typer.Option(help="Pass tensors through system shared memory (same host)")] = False,
    chunk: Annotated[Optional[int], typer.Option(min=1, help="Window length, samples (in-process; default: the "
                                                      "contract's)")] = None,
    export: Annotated[Optional[Path], typer.Option(help="Run an exported artifact in-process: a `wux export` "
                                                        "folder")] = None,
    fmt: Annotated[str, typer.Option("--format", help="Artifact format (with --export): onnx, torchscript, "
                                                      "trt")] = "onnx",
    precision: Annotated[Precision, typer.Option(help="Artifact precision (with --export)")] = "fp32",
    batch_size: Annotated[Optional[int], typer.Option(min=1,
        help="Windows per forward pass, in-process (default: 8; an export's tuned batch)")] = None,
    downmix: Annotated[bool, typer.Option(
        help="Average a multi-channel input to one channel first (without it, each channel is denoised on its "
             "own)")] = False,
    resample: Annotated[bool, typer.Option(
        help="Take a file at another rate: denoised at the model's rate, written back at the file's")] = False,
    stream: Annotated[bool, typer.Option(help="Frame by frame, as a live stream (a causal model: in-process, "
                                              "an export's step model, or Triton's streaming model)")] = False,
    frame_ms: Annotated[float, typer.Option(help="Frame length with --stream, ms")] = 20.0,
    plot: Annotated[Optional[Path], typer.Option(help="Write a PNG of the input's and output's spectrograms "
                                                      "(one input file)")] = None,
    device: DeviceOpt = "cpu",
    as_json: JsonOpt = False,
    model_options: ModelOptions = ModelOptions(),
) -> None:
    """Denoise audio files in-process (the model, or an exported artifact with --export), or through Triton."""
    from dataclasses import replace

    from wux.denoise import check_outputs, denoise_exported, denoise_locally, denoise_served
    from wux.quality.spectrogram import check_plot_request, plot_denoised

    if url and export:
        raise WuxError("--url and --export are two ways to denoise: give one")
    way = "url" if url else "export" if export else "model"
    refuse_unused(ctx, DENOISE_OPTIONS[way, stream], DENOISE_WAYS[way] + (" with --stream" if stream else ""),
                  *set().union(*DENOISE_OPTIONS.values()))
    check_outputs(inputs, out)
    if plot:
        check_plot_request(inputs, plot)
    with progress_bar("denoising", None, progress_mode(as_json)) as advance:
        def file_done(_: Path, files: int) -> None:
            advance(total=files)

        if stream:
            from wux.denoise_stream import stream_exported, stream_locally, stream_served

            if url:
                if len(url) > 1:
                    raise WuxError("--stream takes one --url (a stream lives on one server)")
                report = stream_served(inputs, out, url[0], served_model, frame_ms, downmix, resample,
                                       progress=file_done)
            elif export:
                report = stream_exported(inputs, out, export, fmt, frame_ms, downmix, resample,
                                         progress=file_done)
            else:
                report = stream_locally(inputs, out, model_options.source(checkpoint), frame_ms, downmix, resample,
                                        progress=file_done)
        elif url:
            report = denoise_served(inputs, out, url, served_model, protocol, mode, shared_memory, downmix,
                                    resample, progress=file_done)
        elif export:
            report = denoise_exported(inputs, out, export, fmt, precision, device, batch_size, downmix, resample,
                                      progress=file_done)
        else:
            report = denoise_locally(inputs, out, model_options.source(checkpoint), chunk, device, batch_size or 8,
                                     downmix, resample, progress=file_done)
    if plot:
        done = report.files[0]
        report = replace(report, spectrogram=str(plot_denoised(Path(done.input), Path(done.output), plot)))
    emit(report, as_json, lambda r: render.denoised(r.to_dict()))


@app.command()
@takes_model
def demo(
    out: Annotated[Path, typer.Option("-o", "--out", help="Folder for the demo's WAV files")] = Path("demo_out"),
    checkpoint: CheckpointArg = None,
    triton: Annotated[bool, typer.Option(help="Also run export -> repository -> tritonserver -> client")] = False,
    as_json: JsonOpt = False,
    model_options: ModelOptions = ModelOptions(),
) -> None:
    """Denoise the bundled noisy sample and measure the SI-SNR gain (and, with --triton, serve it)."""
    from wux.demo import run_demo

    emit(run_demo(out, model_options.source(checkpoint), triton), as_json, render.demo)


# ---------------------------------------------------------------- export, verify, bench


def refuse_options_no_artifact_uses(ctx: typer.Context, plan: list, verify: bool) -> None:
    """Options for artifacts this export does not build are refused, not ignored."""
    built = {(fmt.name, precision) for fmt, precision in plan}
    onnx = any(fmt == "onnx" for fmt, _ in built)  # TensorRT plans are built from the ONNX file too
    int8 = any(precision == "int8" for _, precision in built)
    trt = any(fmt == "trt" for fmt, _ in built)
    refuse_unused(ctx, {"opset"} if onnx else set(), "without an ONNX file (--to onnx or trt)", "opset")
    refuse_unused(ctx, {"calibration", "eval_data"} if int8 else set(),
                  "without an INT8 artifact (--to onnx --precision int8)", "calibration", "eval_data")
    refuse_unused(ctx, {"eval_data"} if verify else set(), "with --no-verify", "eval_data")
    refuse_unused(ctx, {"opt_level", "version_compatible", "timing_cache"} if trt else set(),
                  "without --to trt", "opt_level", "version_compatible", "timing_cache")


@app.command()
@takes_model
def export(
    ctx: typer.Context,
    checkpoint: CheckpointArg = None,
    to: Annotated[Optional[list[str]], typer.Option("--to", help="torchscript, onnx, trt (repeatable)")] = None,
    out: Annotated[Path, typer.Option("-o", "--out", help="Output folder (refused if it exists, unless --force)")
                   ] = Path("build"),
    precision: Annotated[Optional[list[str]], typer.Option(help="fp32, fp16, int8 (repeatable)")] = None,
    opset: Annotated[int, typer.Option(help=f"ONNX opset ({MIN_OPSET} or newer)")] = DEFAULT_OPSET,
    max_batch: Annotated[int, typer.Option(help="Largest batch the artifacts accept")] = 8,
    chunk: Annotated[Optional[int], typer.Option(min=1, help="Serving window, samples (default: ~1 s at the model's "
                                                      "rate, longer where its context needs it, on its alignment grid; "
                                                      "`wux info` shows it)")] = None,
    min_len: Annotated[Optional[int], typer.Option(min=1, help="Shortest input, samples (default chunk/4)")] = None,
    opt_len: Annotated[Optional[int], typer.Option(min=1, help="Length to optimise for (default chunk)")] = None,
    max_len: Annotated[Optional[int], typer.Option(min=1, help="Longest input, samples (default 4 x chunk)")] = None,
    fixed_length: Annotated[bool, typer.Option(help="Export at the chunk length only (no dynamic length)")] = False,
    calibration: Annotated[Optional[Path], typer.Option(
        help="INT8: audio files or a folder to calibrate on (default: the bundled sample in every noise)")] = None,
    eval_data: Annotated[Optional[Path], typer.Option(
        help="INT8 gate: speech with clean references, VoiceBank+DEMAND layout (default: the bundled set)")] = None,
    device: DeviceOpt = "cpu",
    opt_level: Annotated[int, typer.Option(help="TensorRT builder optimization level 0-5")] = 3,
    version_compatible: Annotated[bool, typer.Option(help="Build version-compatible TensorRT plans")] = False,
    timing_cache: Annotated[Optional[Path], typer.Option(help="TensorRT timing cache, reused across builds")] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing output folder")] = False,
    verify: Annotated[bool, typer.Option("--verify/--no-verify", help="The parity gate")] = True,
    as_json: JsonOpt = False,
    model_options: ModelOptions = ModelOptions(),
) -> None:
    """Export TorchScript / ONNX / TensorRT artifacts with a manifest, verified against PyTorch."""
    from wux.export.formats import TrtOptions
    from wux.pipeline import ExportRequest, export_model, plan_artifacts

    request = ExportRequest(formats=parse.names(to) or ("torchscript", "onnx"),
                            precisions=parse.names(precision) or ("fp32",), chunk=chunk, max_batch=max_batch,
                            min_len=min_len, opt_len=opt_len, max_len=max_len, opset=opset, device=device,
                            fixed_length=fixed_length, verify=verify, calibration=calibration, eval_data=eval_data,
                            trt=TrtOptions(opt_level, version_compatible, timing_cache))
    refuse_options_no_artifact_uses(ctx, plan_artifacts(request)[0], verify)
    refuse_unused(ctx, set() if fixed_length else {"min_len", "opt_len", "max_len"},
                  "with --fixed-length (the artifacts take the chunk length only)", "min_len", "opt_len", "max_len")
    result = run_until_verdict(
        lambda: export_model(model_options.source(checkpoint), out, request, force=force,
                             show_progress=progress_mode(as_json)),
        as_json, render.parity)
    emit(result, as_json, render.export)


@app.command()
@takes_model
def verify(
    folder: Annotated[Path, typer.Argument(help="Folder written by `wux export`")],
    checkpoint: Annotated[Optional[Path], typer.Option(
        help="Reference wux checkpoint (default: the model the manifest records; not with --model)",
        show_default=False)] = None,
    device: DeviceOpt = "cpu",
    atol: Annotated[Optional[float], typer.Option(help="Override the max abs error bound")] = None,
    min_si_snr: Annotated[Optional[float], typer.Option(help="Override the SI-SNR floor, dB")] = None,
    cases: Annotated[bool, typer.Option(help="Include every case in --json")] = False,
    eval_data: Annotated[Optional[Path], typer.Option(
        help="INT8 gate: speech with clean references, VoiceBank+DEMAND layout (default: the bundled set)")] = None,
    as_json: JsonOpt = False,
    model_options: ModelOptions = ModelOptions(),
) -> None:
    """Check every artifact against the PyTorch reference (default: the model the manifest records)."""
    from wux.verify.parity import verify_folder

    named = model_options.model is not None or checkpoint is not None
    report = verify_folder(folder, model_options.source(checkpoint) if named else None, device, atol, min_si_snr,
                           show_progress=progress_mode(as_json), eval_data=eval_data)
    emit(report.to_dict(with_cases=cases) if as_json else report, as_json, render.parity)
    verdict(report.passed)


@app.command()
def bench(
    folder: Annotated[Path, typer.Argument(help="Folder written by `wux export`")],
    formats: Annotated[Optional[list[str]], typer.Option("--formats", help="Only these formats")] = None,
    batch: Annotated[tuple, typer.Option(parser=parse.counts, metavar="N,N,...", help="Batch sizes")] = "1,8",
    samples: Annotated[Optional[int], typer.Option(min=1, help="Samples per item (default: the chunk)")] = None,
    seconds: Annotated[float, typer.Option(min=0.001, max=3600, help="Measured time per runner and batch")] = 1.0,
    device: DeviceOpt = "cpu",
    threads: Annotated[Optional[int], typer.Option(min=1,
        help="torch and onnxruntime threads (default: torch's; each ONNX artifact's own, tuned or not)")] = None,
    tune: Annotated[bool, typer.Option(help="First search onnxruntime's settings and batch for every ONNX "
                                            "artifact on this machine; record them in the manifest")] = False,
    as_json: JsonOpt = False,
) -> None:
    """In-process throughput of each artifact next to eager PyTorch, measured in the same run."""
    from wux.perf.bench import bench_folder
    from wux.perf.ortune import tune_folder

    tuned = tune_folder(folder, say=None if as_json else render.progress_line) if tune else []
    report = bench_folder(folder, list(parse.names(formats)) or None, batch, samples, seconds, device, threads)
    report.tuned = [t.to_dict() for t in tuned]
    emit(report, as_json, render.bench)


# ---------------------------------------------------------------- Triton


@app.command()
def triton(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(help="Folder written by `wux export`")],
    repo: Annotated[Path, typer.Option(help="Repository folder to create")] = Path("triton_repo"),
    name: Annotated[str, typer.Option(help="Name of the front model (core models get _FORMAT)")] = "waveunet",
    formats: Annotated[Optional[str], typer.Option(help="onnx,trt,torchscript,python (default: all + python)")] = None,
    core: Annotated[str, typer.Option(help="Core model format the front model calls")] = "python",
    precision: Annotated[Optional[Precision], typer.Option(
        help="Serve artifacts of this precision only (default: fp32 where there is one, else fp16)")] = None,
    max_batch: Annotated[Optional[int], typer.Option(
        min=1, help="Dynamic batching limit (default: the manifest's)")] = None,
    instances: Annotated[int, typer.Option(min=1, help="Instances per model")] = 1,
    kind: Annotated[Literal["cpu", "gpu", "auto"], typer.Option(help="Where instances run")] = "auto",
    preferred_batch: Annotated[Optional[tuple], typer.Option(parser=parse.counts, metavar="N,N,...",
                                                             help="Preferred batch sizes")] = None,
    queue_delay_us: Annotated[int, typer.Option(min=0, help="Max queue delay for dynamic batching, us")] = 500,
    threads: Annotated[int, typer.Option(min=0, help="onnxruntime threads per instance, python and onnx models (0: one "
                                              "per core)")] = 0,
    max_queue_size: Annotated[int, typer.Option(
        min=0, help="Reject requests beyond this many queued (0: unbounded)")] = 0,
    queue_timeout_us: Annotated[int, typer.Option(min=0, help="Reject requests queued longer than this, us (0: never)")
                                ] = 0,
    warmup: Annotated[bool, typer.Option(help="Warm models up with real speech")] = True,
    stream_idle_s: Annotated[float, typer.Option(
        min=0.1, help="A causal export's streaming model drops a stream silent "
                                                      "this long, s")] = 10.0,
    stream_max_batch: Annotated[int, typer.Option(min=1, help="Frames of this many streams run together")] = 16,
    stream_instances: Annotated[int, typer.Option(min=1, help="Instances of the streaming model (a stream stays on "
                                                       "one)")] = 2,
    ort_trt: Annotated[bool, typer.Option(help="ONNX Runtime TensorRT accelerator for the onnx model")] = False,
    deploy: Annotated[Optional[Literal["k8s"]], typer.Option(
        help="Also write deployment files: k8s = Kubernetes manifests (Triton replicas, autoscaler, gateway, "
             "KServe)")] = None,
    deploy_dir: Annotated[Optional[Path], typer.Option(help="Folder for them (default: REPO-k8s)")] = None,
    add: Annotated[bool, typer.Option(
        help="Add the models to an existing repository beside its other models (client scripts go to "
             "REPO_NAME_clients)")] = False,
    force: Annotated[bool, typer.Option(
        help="Replace an existing repository wux wrote (never one holding other models); with --add, the models "
             "an earlier wux run added under this --name")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Generate a Triton model repository (every format + python + a long-audio front model)."""
    from wux.export.manifest import read_manifest
    from wux.triton_repo.config import ServingOptions
    from wux.triton_repo.generate import RepoRequest, clients_dir, generate_repository

    refuse_unused(ctx, {"deploy_dir"} if deploy else set(), "without --deploy", "deploy_dir")
    if add and deploy:
        raise WuxError("--deploy describes a repository wux wrote whole; leave out --add")
    repo = repo.resolve() if repo.name in ("", "..") else repo  # "." has no name to put "_clients" after
    stream_options = ("stream_idle_s", "stream_max_batch", "stream_instances")
    refuse_unused(ctx, set(stream_options) if read_manifest(folder).streaming else set(),
                  "to an export without a streaming model (export a causal model)", *stream_options)
    options = ServingOptions(max_batch=max_batch, instances=instances, kind=kind, queue_delay_us=queue_delay_us,
                             threads=threads, max_queue_size=max_queue_size, queue_timeout_us=queue_timeout_us,
                             preferred_batch=tuple(preferred_batch or ()), warmup=warmup, ort_trt=ort_trt,
                             stream_idle_s=stream_idle_s, stream_max_batch=stream_max_batch,
                             stream_instances=stream_instances)
    request = RepoRequest(name=name, formats=parse.names([formats]) if formats else None, core=core,
                          precision=precision, options=options)
    k8s_dir = deploy_dir or repo.with_name(f"{repo.name}-k8s")
    if deploy == "k8s":  # a deployment folder that cannot be written must fail before the repository is
        check_new_output(k8s_dir, force, inputs=[folder, repo, clients_dir(repo)])
        if is_or_holds(repo, k8s_dir):  # equal is refused above, as the repository is one of the inputs
            raise WuxError("is inside the repository; give --deploy-dir a folder of its own", k8s_dir)
    result = generate_repository(folder, repo, request, force=force, add=add)
    if deploy == "k8s":
        from wux.deploy.k8s import deploy_repository

        result.deploy = deploy_repository(folder, k8s_dir, name, gpu=kind == "gpu", force=force).to_dict()
    emit(result, as_json, render.repository)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def serve(
    ctx: typer.Context,
    repo: Annotated[Path, typer.Argument(help="Repository written by `wux triton`")],
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
    http_port: Annotated[int, typer.Option(min=0, max=65535, help="HTTP port (0: a free one)")] = 8000,
    grpc_port: Annotated[int, typer.Option(min=0, max=65535, help="gRPC port (0: a free one)")] = 8001,
    metrics_port: Annotated[int, typer.Option(min=0, max=65535, help="Prometheus metrics port (0: a free one)")] = 8002,
    tritonserver: Annotated[Optional[Path], typer.Option(
        help="tritonserver binary (default: PATH, else the one wux fetches on first use)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run tritonserver on the repository until Ctrl-C / SIGTERM; says which models it cannot load.

    Arguments after `--` go to tritonserver as they are: wux serve REPO -- --log-verbose=1"""
    from wux.triton_repo.server import TritonServer

    server = TritonServer(repo, host, http_port, grpc_port, metrics_port, tritonserver, extra_args=tuple(ctx.args))
    # --json: one line, printed (and flushed) once the server is ready, for a supervising program to read
    code = server.serve(lambda info: typer.echo(json.dumps(info.to_dict())) if as_json else render.serving(info))
    if not as_json:
        typer.echo(f"tritonserver stopped (exit code {code})")


@app.command()
def gateway(
    ctx: typer.Context,
    export: Annotated[Optional[Path], typer.Option(help="Denoise in-process with this `wux export` folder")] = None,
    url: Annotated[Optional[list[str]], typer.Option(
        "-u", "--url", help="Denoise through Triton at HOST:PORT; repeat for replicas of one repository",
        metavar="HOST:PORT", parser=server_url)] = None,
    served_model: Annotated[str, typer.Option("-m", "--served-model", help="Front model name (with --url)")
                            ] = "waveunet",
    protocol: Annotated[Protocol, typer.Option("-i", "--protocol", help="Wire protocol (with --url)")] = "grpc",
    precision: Annotated[Precision, typer.Option(help="Artifact precision (with --export)")] = "fp32",
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port")] = 8080,
    workers: Annotated[int, typer.Option(help="Worker processes (each with its own backend)")] = 1,
    max_body_mb: Annotated[float, typer.Option(help="Largest upload, MiB (larger: 413)")] = 50.0,
    max_seconds: Annotated[float, typer.Option(help="Longest audio, seconds (longer: 413)")] = 600.0,
    max_concurrent: Annotated[int, typer.Option(help="Requests in progress per worker (more: 429)")] = 8,
) -> None:
    """An audio REST service: POST /v1/denoise with a WAV/FLAC file, a page at /, /healthz, /readyz, /metrics.

    curl -F audio=@noisy.wav http://127.0.0.1:8080/v1/denoise -o clean.wav"""
    from wux.gateway.config import GatewayConfig
    from wux.gateway.serve import run_gateway

    if bool(export) != bool(url):  # neither or both: GatewayConfig says so
        way = "url" if url else "export"
        refuse_unused(ctx, DENOISE_OPTIONS[way, False], DENOISE_WAYS[way], "served_model", "protocol", "precision")
    cfg = GatewayConfig(str(export) if export else None, tuple(url or ()), served_model, protocol, precision,
                        max_body_mb, max_seconds, max_concurrent)
    run_gateway(cfg, host, port, workers,
                on_ready=lambda where: typer.echo(f"wux gateway on {where} ({cfg.backend_name}); Ctrl-C stops it"))


# ---------------------------------------------------------------- perf


REQUEST_LOAD = ("protocol", "concurrency_range", "request_rate_range", "distribution", "lengths",
                "measurement_interval_ms", "stability_percentage", "max_trials", "percentile", "validate",
                "input_data")
VALIDATION = ("validate_share", "export", *MODEL_NAMING)


def refuse_perf_options_unused(ctx: typer.Context, streams: bool, validate: bool, rates: bool,
                               export: bool) -> None:
    """Request-load options with --streams, stream options without it, a reference without --validate, a
    distribution without request rates, or concurrency levels with them: refused, not ignored."""
    stream_options = ("frame_ms", "stream_seconds")
    everything = (*REQUEST_LOAD, *VALIDATION, *stream_options)
    if streams:
        refuse_unused(ctx, set(stream_options), "with --streams", *everything)
        return
    refuse_unused(ctx, set(), "without --streams", *stream_options)
    refuse_unused(ctx, set(VALIDATION) if validate else set(), "without --validate", *VALIDATION)
    refuse_unused(ctx, set() if export else set(MODEL_NAMING), "with --export (the export is the reference)",
                  *MODEL_NAMING)
    refuse_unused(ctx, {"distribution"} if rates else set(), "without --request-rate-range", "distribution")
    refuse_unused(ctx, set() if rates else {"concurrency_range"}, "with --request-rate-range", "concurrency_range")


@app.command()
@takes_model
def perf(
    ctx: typer.Context,
    url: Annotated[list[str], typer.Option(
        "-u", "--url", help="Triton endpoint HOST:PORT (its gRPC or HTTP port); repeat for replicas of one "
                            "repository (requests go to the least busy)", metavar="HOST:PORT", parser=server_url)
                   ] = ["127.0.0.1:8001"],  # noqa: B006
    protocol: Annotated[Protocol, typer.Option("-i", "--protocol", help="Wire protocol")] = "grpc",
    served_model: Annotated[str, typer.Option("-m", "--served-model", help="Model to load (a wux front or core "
                                              "model)")] = "waveunet",
    concurrency_range: Annotated[tuple, typer.Option(parser=parse.levels, metavar="START:END[:STEP]|N,N",
                                                     help="Concurrency levels: 1:8:1 or a list 1,2,4")] = "1",
    request_rate_range: Annotated[Optional[tuple], typer.Option(
        parser=parse.rate_levels, metavar="START:END[:STEP]", help="Requests/s, open loop: 10:50:10")] = None,
    distribution: Annotated[Literal["constant", "poisson"], typer.Option("--request-distribution",
        help="Inter-arrival times (request-rate mode)")] = "constant",
    lengths: LengthsOpt = None,
    measurement_interval_ms: IntervalOpt = 5000,
    stability_percentage: StabilityOpt = 10.0,
    max_trials: MaxTrialsOpt = 10,
    percentile: Annotated[Optional[int], typer.Option(help="Stabilise on this latency percentile")] = None,
    validate: Annotated[bool, typer.Option(help="Check responses against the model in-process")] = False,
    validate_share: Annotated[float, typer.Option(help="Share of responses validated")] = 0.2,
    export: Annotated[Optional[Path], typer.Option(help="Reference for --validate: an export folder")] = None,
    checkpoint: CheckpointOpt = None,
    input_data: InputDataOpt = None,
    csv_path: Annotated[Optional[Path], typer.Option("-f", "--csv", help="perf_analyzer-style CSV")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="PNG: latency percentiles against throughput")] = None,
    streams: Annotated[Optional[tuple], typer.Option(
        parser=parse.counts, metavar="N,N,...", help="Live streams at real-time pace instead, against the streaming "
                                                     "model (-m NAME_stream): frame latency and deadline misses")
                       ] = None,
    frame_ms: Annotated[float, typer.Option(help="Frame length with --streams, ms")] = 20.0,
    stream_seconds: Annotated[float, typer.Option(help="Audio per stream and level with --streams, s")] = 10.0,
    as_json: JsonOpt = False,
    model_options: ModelOptions = ModelOptions(),
) -> None:
    """perf_analyzer-style load: throughput in infer/s and audio-s/s, latency percentiles, server breakdown.

    --validate compares responses with --export in onnxruntime, or else the model (--checkpoint, --model, or
    the bundled one) in PyTorch with the served model's windows. --streams measures live streams instead."""
    from wux.perf.loadgen import PerfConfig, run_perf
    from wux.perf.report import write_csv, write_plot

    refuse_perf_options_unused(ctx, bool(streams), validate, bool(request_rate_range), export is not None)
    if streams:
        return perf_streams(url, served_model, streams, frame_ms, stream_seconds, csv_path, plot, as_json)

    cfg = PerfConfig(url=url[0], replicas=tuple(url[1:]), model=served_model, protocol=protocol,
                     concurrency=concurrency_range,
                     request_rates=request_rate_range or (), distribution=distribution, lengths=lengths or (),
                     measurement_interval_ms=measurement_interval_ms, stability_percentage=stability_percentage,
                     max_trials=max_trials, percentile=percentile, validate_share=validate_share if validate else 0.0,
                     validate_export=export, validate_source=model_options.source(checkpoint), input_data=input_data)
    report = run_perf(cfg, show_progress=not as_json)
    if csv_path and report.levels:
        write_csv(csv_path, report.levels)
    if plot and report.levels:
        write_plot(plot, report.levels, f"{served_model} @ {report.url}")
    emit(report, as_json, render.perf)
    if report.error:
        raise WuxError(report.error)
    verdict(not any(lv.validation_failures for lv in report.levels))


def perf_streams(url: list[str], served_model: str, streams: tuple, frame_ms: float, seconds: float,
                 csv_path: Path | None, plot: Path | None, as_json: bool) -> None:
    from wux.perf.streams import StreamsConfig, run_streams, write_streams_csv, write_streams_plot

    if len(url) > 1:
        raise WuxError("--streams takes one --url (a stream lives on one server)")
    from wux.triton_repo.generate import stream_model_name

    cfg = StreamsConfig(url[0], stream_model_name(served_model), streams, frame_ms, seconds)
    report = run_streams(cfg, say=None if as_json else render.stream_level)
    if csv_path and report.levels:
        write_streams_csv(csv_path, report)
    if plot and report.levels:
        write_streams_plot(plot, report)
    emit(report, as_json, render.streams)
    if report.error:
        raise WuxError(report.error)


@app.command()
def tune(
    url: Annotated[str, typer.Option("-u", "--url", help="Triton gRPC endpoint HOST:PORT (explicit model control)",
                                           parser=server_url)
                   ] = "127.0.0.1:8001",
    served_model: Annotated[str, typer.Option("-m", "--served-model", help="Model whose config is searched")
                            ] = "waveunet_python",
    via: Annotated[Optional[str], typer.Option(help="Send the load through this model (e.g. the front model)")] = None,
    p99_budget_ms: Annotated[Optional[float], typer.Option(help="Best = top throughput with p99 within this")] = None,
    max_batch: Annotated[Optional[tuple], typer.Option(
        parser=parse.counts, metavar="N,N,...", help="Max batches to try (default: 1, half, served max)")] = None,
    preferred_batch: Annotated[tuple, typer.Option(parser=parse.preferred, metavar="default|N|N+M,...",
                                                   help="Preferred batch choices: default,4,2+4")] = "default",
    queue_delay_us: Annotated[tuple, typer.Option(parser=parse.counts_or_zero, metavar="US,US,...",
                                                  help="Queue delays to try, microseconds")] = "0,500,2000",
    instances: Annotated[tuple, typer.Option(parser=parse.counts, metavar="N,N,...",
                                             help="Instance counts to try")] = "1,2",
    threads: Annotated[Optional[tuple], typer.Option(parser=parse.counts_or_zero, metavar="N,N,...",
                                                     help="onnxruntime threads per instance to try (0: all)")] = None,
    max_queue_size: Annotated[Optional[tuple], typer.Option(
        parser=parse.counts_or_zero, metavar="N,N,...", help="Queue limits to try (0: unbounded)")] = None,
    concurrency: Annotated[tuple, typer.Option(parser=parse.levels, metavar="START:END[:STEP]|N,N",
                                               help="Levels per config: 1,2,4,8 or 1:8:1")] = "1,2,4,8",
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
    from wux.perf.tune import TuneConfig, run_tune

    cfg = TuneConfig(url=url, model=served_model, via=via, p99_budget_ms=p99_budget_ms, max_batch=max_batch or (),
                     preferred_batch=preferred_batch, queue_delay_us=queue_delay_us, instances=instances,
                     threads=threads or (), max_queue_size=max_queue_size or (),
                     concurrency=concurrency, lengths=lengths or (), input_data=input_data,
                     measurement_interval_ms=measurement_interval_ms, stability_percentage=stability_percentage,
                     max_trials=max_trials, min_gain_percent=min_gain_percent, repo=repo, write=write)
    report = run_tune(cfg, show_progress=not as_json)
    emit(report, as_json, render.tune)
    if report.error:
        raise WuxError(report.error)
    if report.best is None:
        what = f"met p99 <= {p99_budget_ms:g} ms without errors" if p99_budget_ms else "ran without errors"
        typer.echo(f"error: no configuration {what}; nothing written", err=True)
        raise typer.Exit(EXIT_VERDICT)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
