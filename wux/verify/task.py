"""The gate in the task's terms: does an approximate artifact still denoise as well as the FP32 model?

Numerical closeness is the wrong question for INT8 (its output is a few dozen dB from FP32 by design).
The right one: on speech with clean references, the SI-SNR improvement the artifact gives against the one
the FP32 reference gives, file by file, both run the way serving runs them (the contract's windows).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from wux.contract import AudioContract
from wux.data.dataset import Pair, load_pairs
from wux.denoise import denoise_wave
from wux.metrics import si_snr_db
from wux.resources import EVAL_SET, bundled
from wux.runtime.base import Runner
from wux.verify.tolerance import TaskTolerance


@dataclass(frozen=True)
class FileDrop:
    name: str
    input_si_snr_db: float
    reference_improvement_db: float
    artifact_improvement_db: float
    drop_db: float  # reference improvement minus the artifact's: positive is worse
    si_snr_vs_reference_db: float  # the artifact's output against the reference's, raw


@dataclass
class TaskVerdict:
    eval_data: str
    tolerance: TaskTolerance
    files: list[FileDrop] = field(default_factory=list)

    @property
    def mean_drop_db(self) -> float:
        return float(np.mean([f.drop_db for f in self.files]))

    @property
    def worst_drop_db(self) -> float:
        return float(max(f.drop_db for f in self.files))

    @property
    def reasons(self) -> list[str]:
        worst = max(self.files, key=lambda f: f.drop_db)
        return self.tolerance.breaches(self.mean_drop_db, self.worst_drop_db, worst.name)

    @property
    def passed(self) -> bool:
        return not self.reasons

    @property
    def would_pass_with(self) -> TaskTolerance:
        return TaskTolerance(max(self.mean_drop_db, 0.0), max(self.worst_drop_db, 0.0))

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(mean_drop_db=self.mean_drop_db, worst_drop_db=self.worst_drop_db, passed=self.passed,
                 reasons=self.reasons, would_pass_with=self.would_pass_with.to_dict())
        return d


def eval_pairs(contract: AudioContract, folder: Path | None = None) -> tuple[list[Pair], str]:
    """Speech with clean references in the VoiceBank+DEMAND layout (test split); default: the bundled set."""
    root = Path(folder) if folder else bundled(EVAL_SET)
    return load_pairs(root, "test", contract.sample_rate), str(folder or "the bundled evaluation set")


class Improvements:
    """Per-file outputs of the reference, computed once for every artifact judged against it."""

    def __init__(self, reference: Runner, pairs: list[Pair], contract: AudioContract, batch: int):
        self.pairs, self.plan, self.batch = pairs, contract.window, batch
        self.outputs = [self.denoise(reference, p.noisy) for p in pairs]

    def denoise(self, runner: Runner, wave: np.ndarray) -> np.ndarray:
        return denoise_wave(runner, wave, self.plan, self.batch)

    def judge(self, runner: Runner, tolerance: TaskTolerance, label: str) -> TaskVerdict:
        verdict = TaskVerdict(label, tolerance)
        for pair, ref in zip(self.pairs, self.outputs):
            out = self.denoise(runner, pair.noisy)
            before = si_snr_db(pair.noisy, pair.clean)
            gain_ref, gain_art = si_snr_db(ref, pair.clean) - before, si_snr_db(out, pair.clean) - before
            verdict.files.append(FileDrop(pair.name, before, gain_ref, gain_art, gain_ref - gain_art,
                                          si_snr_db(out, ref)))
        return verdict
