"""INT8 ONNX for CPUs: static QDQ quantization calibrated on speech, every choice made by measurement.

onnxruntime's quantizer wraps convolutions in QuantizeLinear / DequantizeLinear pairs, which its CPU
kernels run as 8-bit integer arithmetic (AVX-512 VNNI does four times the multiply-accumulates of FP32
FMA). Measured on the classic model, quantizing every convolution lost 1.6 dB of SI-SNR improvement on
unseen speech: the raw waveform at the input and the full-rate layers near the output do not survive
8 bits, the middle of the network loses nothing. Transposed convolutions have no 8-bit kernel in
onnxruntime, so they are first rewritten as ordinary ones (wux.export.polyphase, exact; on the classic
model this took INT8 from 1.55x to 2.0x FP32's speed). Then each choice is measured on speech windows
kept apart from the calibration windows (other offsets of the same clips; the task gate, on other speech,
is the independent check):
  - the calibration method (min-max, percentile, entropy), all convolutions quantized: the best worst-window
    SI-SNR of the INT8 output against the FP32 graph's;
  - which convolutions to quantize: each one alone, for its sensitivity (that SI-SNR against FP32); then the
    largest set of the least sensitive ones (a binary search over how many) that still denoises as well as
    FP32. Where the calibration speech has clean references (the default set, below) that is the task
    gate's own measure, the drop in SI-SNR improvement, within SELECTION_SHARE of the gate's limits; on
    audio without references (--calibration), the combined output within TARGET_DB of FP32;
  - the activation type (unsigned or signed 8-bit; weights signed, per channel): each that meets the same
    rule timed, interleaved, on this machine, the faster kept (signed activations ran slower than FP32 here: 0.8-0.9x).
Whether the result is good enough is not decided here: wux verify's task gate judges the SI-SNR
improvement on speech with clean references against the FP32 model's (wux.verify.task).
"""

from __future__ import annotations

import contextlib
import inspect
import io as io_module
import logging
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from wux.contract import AudioContract
from wux.data.audio import list_audio_files, read_audio
from wux.data.noise import make_noise, mix_at_snr, within_full_scale
from wux.data.synth import RICH
from wux.errors import ExportError, NotFaithful, WuxError, first_line
from wux.export.check import Outcome
from wux.export.graph import default_opset
from wux.export.polyphase import rewrite_transposed_convolutions
from wux.metrics import improvement_drop_db
from wux.resources import SAMPLE_CLEAN, SAMPLE_NOISY, bundled
from wux.runtime.base import TensorIO
from wux.runtime.onnxruntime import OrtRunner
from wux.tools import require
from wux.verify.compare import si_snr_exact
from wux.verify.tolerance import TASK_TOLERANCES, TaskTolerance

METHODS = ("minmax", "percentile", "entropy")
ACTIVATION_TYPES = ("uint8", "int8")
QUANTIZED_OPS = ("Conv", "ConvTranspose")  # elementwise ops stay FP32: no requantizing between them
# Without clean references, held-out windows must stay this close to FP32 (worst window, SI-SNR). Measured on
# the classic model: at 42 dB the gate's mean drop in SI-SNR improvement was 0.30 dB (its limit), at 46.6 dB
# 0.21 dB, at 52 dB 0.11; on the default model (calibrated on the noisy sample mixed with every noise) 46.2 dB
# gave a 0.04 dB mean drop, with 7 of its 24 convolutions in 8 bits.
TARGET_DB = 45.0
# With clean references, the chosen layers may lose this share of the task gate's limits on the held-out
# calibration speech: the rest is margin for the gate's own, different speech.
SELECTION_SHARE = 0.25
CALIBRATION_WINDOWS = 32
HELD_OUT_WINDOWS = 16


@dataclass(frozen=True)
class Plan:
    method: str
    quantize: tuple[str, ...]  # convolutions run in INT8; the others stay FP32
    activation_type: str = "uint8"

    def with_(self, **changes) -> Plan:
        return Plan(**{**asdict(self), **changes})


@dataclass(frozen=True, eq=False)
class Windows:
    """[count, chunk] windows of noisy speech, and of the clean speech under them where it is known."""

    noisy: np.ndarray
    clean: np.ndarray | None = None

    def split(self, at: int) -> tuple[Windows, Windows]:
        clean = (None, None) if self.clean is None else (self.clean[:at], self.clean[at:])
        return Windows(self.noisy[:at], clean[0]), Windows(self.noisy[at:], clean[1])


def default_calibration_pairs(sample_rate: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(noisy, clean): the bundled noisy sample, and its clean speech mixed with every noise family the rich
    corpus has, each at that recipe's lowest SNR. Ranges calibrated on one kind of noise clip the peaks of
    another (calibrated on the noisy sample alone, the default model lost 2.2 dB on a clicks file at the
    gate), and loud noise is where 8 bits lose most: with SNRs spread over -5..20 dB instead, the selection
    put 19 of 24 convolutions in 8 bits and the gate then measured a 1.19 dB drop on clicks at -3 dB; at
    -5 dB, 14 (the gate's worst file lost 0.15 dB). Each mixture is scaled to full scale as a corpus file
    is: unscaled, clicks and keyboard peaked at 5x full scale and stretched every range they reached; scaled,
    18 of 24 (`make bench`: 0.03 dB mean, 0.14 dB worst; 2.28x FP32 instead of 1.34x). Babble is made of the
    clean speech itself at other offsets: the hardest case for a model, and still a fair one for comparing
    INT8 with FP32."""
    clean = read_audio(bundled(SAMPLE_CLEAN), sample_rate, downmix=True, resample=True).astype(np.float64)
    rng = np.random.default_rng(seed)
    snr = RICH.snr_range_db[0]
    pairs = [(read_audio(bundled(SAMPLE_NOISY), sample_rate, downmix=True, resample=True), clean)]
    for family in RICH.noise_families:
        noise = make_noise(family, rng, len(clean), [clean], sample_rate, RICH.babble_talkers)
        ref, noisy = within_full_scale(clean, mix_at_snr(clean, noise, snr))  # as a corpus file would be
        pairs.append((noisy, ref))
    return pairs


def calibration_windows(contract: AudioContract, folder: Path | None, count: int, seed: int = 0) -> Windows:
    """`count` windows of speech: from `folder`'s audio (no references), else the default pairs above."""
    if folder:
        paths = list_audio_files([Path(folder)])
        if not paths:
            raise WuxError("no .wav or .flac files to calibrate on", folder)
        pairs = [(read_audio(p, contract.sample_rate, downmix=True, resample=True), None) for p in paths]
    else:
        pairs = default_calibration_pairs(contract.sample_rate, seed)
    rng = np.random.default_rng(seed)
    n = contract.chunk
    noisy, clean = [], []
    for i in range(count):
        wave, ref = pairs[i % len(pairs)]
        if ref is not None:
            wave, ref = wave[: len(ref)], ref[: len(wave)]
        if len(wave) < n:
            wave = np.pad(wave, (0, n - len(wave)))
            ref = None if ref is None else np.pad(ref, (0, n - len(ref)))
        start = int(rng.integers(0, len(wave) - n + 1))
        noisy.append(wave[start: start + n])
        clean.append(None if ref is None else ref[start: start + n])
    known = folder is None  # only the default pairs come with their clean speech
    return Windows(np.stack(noisy).astype(np.float32), np.stack(clean).astype(np.float32) if known else None)


def reader(name: str, windows: np.ndarray):
    """onnxruntime's CalibrationDataReader over [n, chunk] windows, one [1, 1, chunk] input at a time."""
    q = require("onnxruntime.quantization")

    class Reader(q.CalibrationDataReader):
        def __init__(self):
            self.items = iter([{name: w[None, None, :]} for w in windows])

        def get_next(self):
            return next(self.items, None)

    return Reader()


def calibration_cache(quantize_static, path: Path) -> dict:
    """quantize_static's calibration cache (onnxruntime PR 28221, May 2026): the tensor ranges depend on the graph, the
    calibration windows and the method, not on which convolutions are quantized or the activation type, so
    each method calibrates once and every further trial reuses its ranges (the same model file, bit for bit:
    on the 2 M-parameter long-context model 0.05 s a trial instead of 30-40 s). Older onnxruntime calibrates
    every trial."""
    if "calibration_cache_path" in inspect.signature(quantize_static).parameters:
        return {"calibration_cache_path": str(path)}
    return {}


def quantize(src: Path, dst: Path, io: TensorIO, windows: np.ndarray, plan: Plan, cache: Path) -> None:
    """`plan` applied to `src`, calibrated on `windows`, or on the ranges in `cache` if an earlier trial of the
    same method left them there."""
    q = require("onnxruntime.quantization")
    method = {"minmax": q.CalibrationMethod.MinMax, "percentile": q.CalibrationMethod.Percentile,
              "entropy": q.CalibrationMethod.Entropy}[plan.method]
    act = {"uint8": q.QuantType.QUInt8, "int8": q.QuantType.QInt8}[plan.activation_type]
    extra = {"CalibPercentile": 99.99} if plan.method == "percentile" else {}
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs general advice through the root logger
    try:  # and its entropy calibrator prints to stdout, where it would break `--json`
        with contextlib.redirect_stdout(io_module.StringIO()):
            q.quantize_static(str(src), str(dst), reader(io.input_name, windows), quant_format=q.QuantFormat.QDQ,
                              per_channel=True, activation_type=act, weight_type=q.QuantType.QInt8,
                              calibrate_method=method, op_types_to_quantize=list(QUANTIZED_OPS),
                              nodes_to_quantize=list(plan.quantize), extra_options=extra,
                              **calibration_cache(q.quantize_static, cache))
    finally:
        root.setLevel(level)


def convolutions(path: Path) -> tuple[str, ...]:
    onnx = require("onnx")
    return tuple(n.name for n in onnx.load(str(path)).graph.node if n.op_type in QUANTIZED_OPS)


class Trials:
    """Quantize-and-measure, each plan once: its model file and held-out output remembered, judged against
    FP32's (timing and the final artifact reuse the file instead of quantizing the same plan again)."""

    def __init__(self, src: Path, io: TensorIO, calib: np.ndarray, held_out: Windows, work: Path):
        self.src, self.io, self.calib, self.held_out, self.work = src, io, calib, held_out, work
        self.reference = OrtRunner(src, io)(held_out.noisy).astype(np.float64)
        self.paths: dict[Plan, Path] = {}
        self.outputs: dict[Plan, np.ndarray] = {}
        self.errors: dict[str, str] = {}
        limits = TASK_TOLERANCES["int8"]
        self.allowed = TaskTolerance(SELECTION_SHARE * limits.max_mean_drop_db,
                                     SELECTION_SHARE * limits.max_worst_drop_db)

    def model(self, plan: Plan) -> Path:
        if plan not in self.paths:
            path = self.work / f"trial_{len(self.paths)}.onnx"
            quantize(self.src, path, self.io, self.calib, plan, self.work / f"ranges_{plan.method}.json")
            self.paths[plan] = path
        return self.paths[plan]

    def output(self, plan: Plan) -> np.ndarray:
        if plan not in self.outputs:
            self.outputs[plan] = OrtRunner(self.model(plan), self.io)(self.held_out.noisy).astype(np.float64)
        return self.outputs[plan]

    def score(self, plan: Plan) -> float:
        """The worst held-out window's SI-SNR against FP32's output."""
        return min(si_snr_exact(o, r) for o, r in zip(self.output(plan), self.reference))

    def drops(self, plan: Plan) -> np.ndarray | None:
        """Per held-out window, FP32's SI-SNR improvement minus the plan's (None without clean references)."""
        if self.held_out.clean is None:
            return None
        return np.array([improvement_drop_db(r, o, c)
                         for o, r, c in zip(self.output(plan), self.reference, self.held_out.clean)])

    @property
    def rule(self) -> str:
        if self.held_out.clean is None:
            return f"worst held-out window at least {TARGET_DB:g} dB SI-SNR against FP32's output"
        return (f"SI-SNR improvement on held-out speech at most {self.allowed.max_mean_drop_db:g} dB below FP32 "
                f"on average and {self.allowed.max_worst_drop_db:g} dB on the worst window")

    def measured(self, plan: Plan) -> str:
        """The plan's figures in the rule's own terms."""
        drops = self.drops(plan)
        if drops is None:
            return f"{self.score(plan):.1f} dB SI-SNR against FP32"
        return f"{drops.mean():.2f} dB below FP32 on average, {drops.max():.2f} dB on the worst window"

    def acceptable(self, plan: Plan) -> bool:
        drops = self.drops(plan)
        if drops is None:
            return self.score(plan) >= TARGET_DB
        return not self.allowed.breaches(float(drops.mean()), float(drops.max()), "the worst window")

    def record(self) -> list[dict]:
        out = []
        for plan in self.outputs:
            drops = self.drops(plan)
            out.append({"method": plan.method, "convolutions": len(plan.quantize),
                        "activation_type": plan.activation_type, "si_snr_vs_fp32_db": self.score(plan),
                        "mean_drop_db": None if drops is None else float(drops.mean()),
                        "worst_drop_db": None if drops is None else float(drops.max())})
        return out


def choose_method(trials: Trials, convs: tuple[str, ...]) -> str:
    best, best_score = None, -np.inf
    for method in METHODS:
        try:
            score = trials.score(Plan(method, convs))
        except Exception as e:  # noqa: BLE001 - a method the quantizer cannot apply is just not chosen
            trials.errors[method] = f"{type(e).__name__}: {first_line(e)}"
            continue
        if score > best_score:
            best, best_score = method, score
    if best is None:
        raise ExportError(f"onnx int8: no calibration method could quantize this graph ({trials.errors})")
    return best


def choose_layers(trials: Trials, method: str, convs: tuple[str, ...]) -> tuple[tuple[str, ...], dict[str, float]]:
    """The most convolutions, least sensitive first, that together stay acceptable (Trials.rule); and each
    convolution's sensitivity (its held-out SI-SNR against FP32 when it alone runs in INT8)."""
    alone = {c: trials.score(Plan(method, (c,))) for c in convs}
    order = sorted(convs, key=lambda c: -alone[c])  # least harmful first
    lo, hi = 0, len(order)  # lo: known to be acceptable (none quantized is); hi: the most to try
    if trials.acceptable(Plan(method, tuple(order))):
        return tuple(order), alone
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if trials.acceptable(Plan(method, tuple(order[:mid]))):
            lo = mid
        else:
            hi = mid
    return tuple(order[:lo]), alone


def faster_activation(trials: Trials, plan: Plan, chunk: int) -> tuple[str, dict[str, float]]:
    """Time the plan with each activation type that keeps the selection rule, interleaved on this machine;
    the faster type wins (`plan`'s own type, which the selection judged, always qualifies)."""
    runners = {}
    for act in ACTIVATION_TYPES:
        if act != plan.activation_type and not trials.acceptable(plan.with_(activation_type=act)):
            continue
        runners[act] = OrtRunner(trials.model(plan.with_(activation_type=act)), trials.io).activate()
    x = trials.calib[:1, :chunk]
    times: dict[str, list[float]] = {a: [] for a in runners}
    for _ in range(2):
        for r in runners.values():
            r(x)
    for _ in range(7):
        for act, r in runners.items():
            t0 = time.perf_counter()
            r(x)
            times[act].append(time.perf_counter() - t0)
    medians = {a: 1e3 * float(np.median(t)) for a, t in times.items()}
    return min(medians, key=medians.get), medians


def quantizable_graph(fp32: Path, work: Path) -> tuple[Path, int]:
    """The FP32 graph with its transposed convolutions as ordinary ones (wux.export.polyphase), which
    onnxruntime runs in 8 bits; and how many were rewritten."""
    onnx = require("onnx")
    model = onnx.load(str(fp32))
    count = rewrite_transposed_convolutions(model)
    if not count:
        return fp32, 0
    path = work / "fp32_polyphase.onnx"
    onnx.save(model, str(path))
    return path, count


def export_int8(job) -> Outcome:
    """Quantize the FP32 ONNX artifact with the plan measured best on held-out speech."""
    source = job.sources.get("onnx-fp32")
    if source is None:
        raise ExportError("onnx int8 is quantized from the fp32 graph, which was not exported")
    io, contract = job.io, job.contract
    windows = calibration_windows(contract, job.calibration, CALIBRATION_WINDOWS + HELD_OUT_WINDOWS)
    with tempfile.TemporaryDirectory(prefix="wux-int8-") as tmp:
        src, rewritten = quantizable_graph(job.path_of("fp32"), Path(tmp))
        convs = convolutions(src)
        if not convs:
            raise ExportError("onnx int8: the graph has no convolution to quantize")
        calib, held_out = windows.split(CALIBRATION_WINDOWS)
        trials = Trials(src, io, calib.noisy, held_out, Path(tmp))
        method = choose_method(trials, convs)
        chosen, sensitivity = choose_layers(trials, method, convs)
        if not chosen:
            least_harmful = Plan(method, (max(sensitivity, key=sensitivity.get),))
            raise NotFaithful(f"onnx int8: INT8 not faithful: no convolution of this model runs in 8 bits under the "
                              f"rule '{trials.rule}' (the least harmful alone: {trials.measured(least_harmful)}); "
                              "export fp32 or fp16")
        activation, timing = faster_activation(trials, Plan(method, chosen), contract.chunk)
        plan = Plan(method, chosen, activation)
        shutil.copyfile(trials.model(plan), job.path)
        held_out_db, drops = trials.score(plan), trials.drops(plan)
        trial_record = trials.record()
    proto = require("onnx").load(str(job.path))
    return Outcome(source.length, {
        "quantizer": "onnxruntime.quantization.quantize_static", "format": "QDQ", "per_channel": True,
        "weight_type": "int8", "activation_type": activation, "calibration_method": method,
        "quantized": list(chosen), "kept_fp32": [c for c in convs if c not in chosen],
        "selection_rule": trials.rule, "held_out_si_snr_vs_fp32_db": held_out_db,
        "held_out_mean_drop_db": None if drops is None else float(drops.mean()),
        "held_out_worst_drop_db": None if drops is None else float(drops.max()),
        "calibration": str(job.calibration or "the bundled sample with every noise family"),
        "calibration_windows": CALIBRATION_WINDOWS, "held_out_windows": HELD_OUT_WINDOWS,
        "sensitivity_db": sensitivity,
        "trials": trial_record,
        "method_errors": trials.errors, "activation_timing_ms": timing,
        "exporter": source.details.get("exporter"), "transposed_convolutions_as_polyphase": rewritten,
        "opset": default_opset(proto),
    })
