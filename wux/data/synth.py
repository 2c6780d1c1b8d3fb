"""An offline speech-in-noise corpus in the VoiceBank+DEMAND folder layout, made with espeak-ng."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from wux.contract import DEFAULT_SAMPLE_RATE
from wux.data import noise as noises
from wux.data.layout import SPLITS, split_dirs
from wux.data.resample import resample_poly
from wux.data.sentences import sentence
from wux.errors import MissingDependency, WuxError
from wux.fsutil import atomic_dir

BASE_VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan")
VARIANTS = ("m1", "m3", "m5", "m7", "f1", "f2", "f3", "f4", "klatt", "klatt3", "Andy", "belinda")
# Voices (base+variant pairs) that only the test split uses, so that its speakers are unseen.
TEST_ONLY_VARIANTS = ("f4", "klatt3")
SNR_RANGE_DB = (-5.0, 15.0)
SPEECH_LEVEL_DBFS = (-28.0, -18.0)
SECONDS_PER_UTTERANCE = 4.4  # measured average of one-sentence utterances at the rates below


@dataclass(frozen=True)
class Utterance:
    name: str
    split: str
    voice: str
    rate_wpm: int
    pitch: int
    text: str
    noise: str
    snr_db: float
    level_dbfs: float
    seed: int


@dataclass(frozen=True)
class CorpusSummary:
    root: str
    seed: int
    files: dict[str, int]
    minutes: dict[str, float]
    noise_families: list[str]
    snr_range_db: list[float]
    voices: dict[str, int]
    espeak_version: str

    def to_dict(self) -> dict:
        return asdict(self)


def espeak_binary() -> str:
    path = shutil.which("espeak-ng")
    if not path:
        raise MissingDependency("espeak-ng", hint="apt-get install -y espeak-ng")
    return path


def espeak_version() -> str:
    out = subprocess.run([espeak_binary(), "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip().split(":")[1].strip().split()[0] if ":" in out.stdout else out.stdout.strip()


def speak(u: Utterance, sample_rate: int = DEFAULT_SAMPLE_RATE) -> np.ndarray:
    """espeak-ng's waveform for one utterance, resampled to sample_rate, float64."""
    import soundfile as sf

    cmd = [espeak_binary(), "-v", u.voice, "-s", str(u.rate_wpm), "-p", str(u.pitch), "--stdout", u.text]
    proc = subprocess.run(cmd, capture_output=True, check=False, timeout=60)
    if proc.returncode != 0 or len(proc.stdout) < 100:
        raise WuxError(f"espeak-ng failed for voice {u.voice}: {proc.stderr.decode(errors='replace').strip()}")
    wave, rate = sf.read(io.BytesIO(proc.stdout), dtype="float64")
    return resample_poly(wave, rate, sample_rate).astype(np.float64)


def voices_for(split: str) -> list[str]:
    variants = [v for v in VARIANTS if (v in TEST_ONLY_VARIANTS) == (split == "test")]
    return [f"{base}+{var}" for base in BASE_VOICES for var in variants]


def plan_utterances(minutes: float, seed: int, test_share: float) -> list[Utterance]:
    """Every random choice of the corpus, drawn up front so that synthesis order does not matter."""
    rng = np.random.default_rng(seed)
    families = list(noises.NOISE_FAMILIES)
    seen_text: set[str] = set()
    plan: list[Utterance] = []
    for split in SPLITS:
        share = test_share if split == "test" else 1.0 - test_share
        count = max(2, int(round(minutes * share * 60 / SECONDS_PER_UTTERANCE)))
        voices = voices_for(split)
        for i in range(count):
            text = sentence(rng)
            while text in seen_text:  # test sentences never occur in training
                text = sentence(rng)
            seen_text.add(text)
            voice_idx = int(rng.integers(0, len(voices)))
            plan.append(Utterance(
                name=f"p{voice_idx + (0 if split == 'train' else 500):03d}_{i:04d}",
                split=split, voice=voices[voice_idx], rate_wpm=int(rng.integers(125, 200)),
                pitch=int(rng.integers(25, 80)), text=text,
                noise=families[i % len(families)],
                snr_db=round(float(rng.uniform(*SNR_RANGE_DB)), 2),
                level_dbfs=round(float(rng.uniform(*SPEECH_LEVEL_DBFS)), 2),
                seed=int(rng.integers(0, 2**31)),
            ))
    return plan


def scale_to_dbfs(wave: np.ndarray, level_dbfs: float) -> np.ndarray:
    rms = np.sqrt(np.mean(wave**2)) + 1e-12
    return wave * (10 ** (level_dbfs / 20) / rms)


def mix_utterance(u: Utterance, speech: np.ndarray, others: list[np.ndarray],
                  sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(u.seed)
    clean = scale_to_dbfs(speech, u.level_dbfs)
    noise = noises.make_noise(u.noise, rng, len(clean), others, sample_rate)
    noisy = noises.mix_at_snr(clean, noise, u.snr_db)
    peak = np.max(np.abs(noisy))
    if peak > 0.99:  # keep the pair consistent: scale both, never clip one
        clean, noisy = clean * (0.99 / peak), noisy * (0.99 / peak)
    return clean.astype(np.float32), noisy.astype(np.float32)


def synthesize_corpus(out: Path, minutes: float = 10.0, seed: int = 0, test_share: float = 0.15,
                      sample_rate: int = DEFAULT_SAMPLE_RATE, force: bool = False, jobs: int = 4,
                      progress: Callable[[int, int], None] | None = None) -> CorpusSummary:
    """Write clean/noisy train/test folders under `out`; deterministic given `seed`."""
    import soundfile as sf

    if minutes <= 0:
        raise WuxError(f"--minutes must be positive, got {minutes}")
    version = espeak_version()
    plan = plan_utterances(minutes, seed, test_share)
    done = 0

    def speak_one(u: Utterance) -> np.ndarray:
        nonlocal done
        wave = speak(u, sample_rate)
        done += 1
        if progress:
            progress(done, len(plan))
        return wave

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        speech = list(pool.map(speak_one, plan))

    with atomic_dir(out, force=force) as tmp:
        seconds = {s: 0.0 for s in SPLITS}
        for split in SPLITS:
            clean_dir, noisy_dir = split_dirs(tmp, split)
            clean_dir.mkdir(parents=True)
            noisy_dir.mkdir(parents=True)
            idx = [i for i, u in enumerate(plan) if u.split == split]
            # Babble is made of this split's own utterances, so test babble is unseen speech too.
            pool_waves = [speech[i] for i in idx]
            for i in idx:
                u = plan[i]
                others = [w for j, w in zip(idx, pool_waves) if j != i] or pool_waves
                clean, noisy = mix_utterance(u, speech[i], others, sample_rate)
                sf.write(clean_dir / f"{u.name}.wav", clean, sample_rate, subtype="PCM_16")
                sf.write(noisy_dir / f"{u.name}.wav", noisy, sample_rate, subtype="PCM_16")
                seconds[split] += len(clean) / sample_rate
        summary = CorpusSummary(
            root=str(out), seed=seed,
            files={s: sum(u.split == s for u in plan) for s in SPLITS},
            minutes={s: round(seconds[s] / 60, 2) for s in SPLITS},
            noise_families=list(noises.NOISE_FAMILIES), snr_range_db=list(SNR_RANGE_DB),
            voices={s: len(voices_for(s)) for s in SPLITS}, espeak_version=version,
        )
        (tmp / "corpus.json").write_text(json.dumps(
            {"summary": summary.to_dict(), "utterances": [asdict(u) for u in plan]}, indent=1))
    return summary
