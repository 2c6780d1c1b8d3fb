"""`wux bench --tune`: onnxruntime's session settings and the in-process batch, searched on this machine.

For every ONNX artifact, one setting at a time (intra-op threads, spinning, parallel execution with
inter-op threads, graph optimisation level, then the batch of windows per run), each candidate is
measured against the best so far in alternating blocks (this VM's speed drifts by tens of percent within a
minute: alternating puts the drift on both) and kept only if its median throughput ratio beats MARGIN.
The winner goes into the manifest (Artifact.runtime), where in-process denoising and the Triton
python-backend model read it.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from wux.export.formats import get_format
from wux.export.manifest import Artifact, read_manifest
from wux.ort_settings import OrtOptions
from wux.verify.signals import make_signal

MARGIN = 0.05  # a change must be this much faster (median ratio over the rounds) to be kept
ROUNDS = 3


@dataclass(frozen=True)
class Trial:
    setting: str
    options: dict
    batch: int
    ratio: float  # candidate throughput / incumbent throughput (median over rounds)
    kept: bool


@dataclass
class TunedArtifact:
    artifact: str
    session: OrtOptions
    batch: int
    samples_per_s: float
    default_samples_per_s: float  # onnxruntime's defaults at batch 1, measured in the same run
    trials: list[Trial] = field(default_factory=list)
    # what the search found, against the defaults in a last alternating run (None: it found nothing to try)
    searched_ratio: float | None = None

    @property
    def gain(self) -> float:
        return self.samples_per_s / self.default_samples_per_s

    @property
    def defaults_kept(self) -> bool:
        """The search kept changes, but together they did not beat the defaults (confirmed)."""
        return self.searched_ratio is not None and self.searched_ratio <= 1 + MARGIN

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(session=self.session.to_dict(), gain=self.gain, defaults_kept=self.defaults_kept)
        return d


class Meter:
    """Throughput (samples/s) of one artifact under given settings, in blocks of `block_s` seconds."""

    def __init__(self, folder: Path, art: Artifact, chunk: int, block_s: float):
        self.folder, self.art, self.chunk, self.block_s = folder, art, chunk, block_s
        self.runners: dict[tuple, object] = {}

    def runner(self, options: OrtOptions):
        key = tuple(sorted(options.to_dict().items()))
        if key not in self.runners:
            fmt = get_format(self.art.format)
            self.runners[key] = fmt.runner(self.folder / self.art.file, self.art.io, "cpu", options,
                                           self.art.limits).activate()
        return self.runners[key]

    def block(self, options: OrtOptions, batch: int) -> float:
        run, x = self.runner(options), make_signal("speech", batch, self.chunk)
        run(x)  # the first run after another session's block pays for that one
        runs, t0 = 0, time.perf_counter()
        while True:
            run(x)
            runs += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= self.block_s and runs >= 2:
                return runs * batch * self.chunk / elapsed

    def ratio(self, candidate: tuple[OrtOptions, int], incumbent: tuple[OrtOptions, int]) -> tuple[float, float]:
        """(median candidate/incumbent throughput ratio, the incumbent's median throughput), alternating."""
        ratios, base = [], []
        for _ in range(ROUNDS):
            b = self.block(*incumbent)
            c = self.block(*candidate)
            ratios.append(c / b)
            base.append(b)
        return statistics.median(ratios), statistics.median(base)


# One dimension at a time, in this order; each stage's candidates are built from the best so far.
STAGES = (
    lambda best, cores: [(f"{n} intra-op thread(s)", replace(best, intra_op_threads=n)) for n in range(1, cores + 1)],
    lambda best, cores: [("spinning", replace(best, spinning=True))],
    lambda best, cores: [(f"parallel, {n} inter-op threads", replace(best, execution_mode="parallel",
                                                                      inter_op_threads=n))
                         for n in range(2, cores + 1)],
    lambda best, cores: [(f"graph optimisation {level}", replace(best, graph_optimization=level))
                         for level in ("basic", "extended")],
)
BATCHES = (2, 4, 8, 16)


def tune_artifact(folder: Path, art: Artifact, chunk: int, block_s: float, say=None) -> TunedArtifact:
    meter = Meter(folder, art, chunk, block_s)
    best, batch = OrtOptions(), 1
    trials: list[Trial] = []

    def trial(label: str, option: OrtOptions, b: int) -> bool:
        ratio, _ = meter.ratio((option, b), (best, batch))
        kept = ratio > 1 + MARGIN
        trials.append(Trial(label, option.to_dict(), b, ratio, kept))
        if say:
            say(f"{art.key}: {label}: {ratio:.2f}x{' (kept)' if kept else ''}")
        return kept

    cores = os.cpu_count() or 1
    for stage in STAGES:
        for label, option in stage(best, cores):
            if trial(label, option, batch):
                best = option
    for b in BATCHES:
        if art.limits.batch_max is not None and b > art.limits.batch_max:
            break
        if trial(f"batch {b}", best, b):
            batch = b
    return confirmed(meter, best, batch, trials)


CONFIRM = "all kept changes against onnxruntime's defaults"


def confirmed(meter: Meter, best: OrtOptions, batch: int, trials: list[Trial]) -> TunedArtifact:
    """The search's winner measured once more against the defaults, by the same rule as each step: kept only if
    it beats MARGIN (steps kept on a fast minute can add up to something slower), else the defaults stay."""
    key = meter.art.key
    if (best, batch) == (OrtOptions(), 1):
        _, default = meter.ratio((best, batch), (best, batch))
        return TunedArtifact(key, best, batch, default, default, trials)
    ratio, default = meter.ratio((best, batch), (OrtOptions(), 1))
    kept = ratio > 1 + MARGIN
    trials.append(Trial(CONFIRM, best.to_dict(), batch, ratio, kept))
    if not kept:
        return TunedArtifact(key, OrtOptions(), 1, default, default, trials, ratio)
    return TunedArtifact(key, best, batch, ratio * default, default, trials, ratio)


def tune_folder(folder: Path, formats: tuple[str, ...] = ("onnx",), block_s: float = 0.5, say=None
                ) -> list[TunedArtifact]:
    """Tune every artifact of `formats` on this machine and record the result in the manifest."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    tuned = []
    for art in manifest.artifacts:
        if art.format not in formats:
            continue
        result = tune_artifact(folder, art, manifest.contract.chunk, block_s, say)
        art.runtime = {"session": result.session.to_dict(), "batch": result.batch,
                       "tuned_on": f"{platform.node()} ({os.cpu_count()} CPUs, {platform.processor() or 'cpu'})",
                       "gain_vs_defaults": round(result.gain, 3),
                       "trials": [asdict(t) for t in result.trials]}
        tuned.append(result)
    manifest.write(folder)
    return tuned
