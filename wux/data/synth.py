"""An offline speech-in-noise corpus in the VoiceBank+DEMAND folder layout, spoken by espeak-ng and Festival."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from wux.contract import DEFAULT_SAMPLE_RATE
from wux.data import noise as noises
from wux.data import voices as tts
from wux.data.augment import change_speed, fft_convolve, room_impulse_response
from wux.data.layout import CORPUS_RECORD, SPLITS, split_dirs
from wux.data.sentences import sentence
from wux.errors import WuxError
from wux.fsutil import atomic_dir

SPEECH_LEVEL_DBFS = (-28.0, -18.0)
SECONDS_PER_UTTERANCE = 4.4  # measured average of one-sentence utterances at the rates below
WARP_STEPS = (45, 56)  # speaker warp factors 50/k: 0.89 .. 1.11 (pitch and vocal tract together)
RT60_RANGE_S = (0.15, 0.7)


@dataclass(frozen=True)
class CorpusRecipe:
    """What a corpus is made of. `classic` is the first recipe (espeak-ng only, six noise families) and
    draws exactly what it always drew; `rich` adds Festival's recorded voices, speaker warping, everyday
    noises, 2-8 talker babble, reverberant rooms and SNRs up to 20 dB."""

    name: str
    engines: tuple[str, ...]
    noise_families: tuple[str, ...]
    snr_range_db: tuple[float, float]
    babble_talkers: tuple[int, int]
    reverb_share: float
    warp: bool
    # Babble is other people: a mixture's babble never has its own speaker's timbre in it (a voice cannot be
    # told from itself). The classic recipe draws babble from any other utterance, as it always did.
    babble_other_speakers: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


CLASSIC = CorpusRecipe("classic", (tts.ESPEAK,), noises.NOISE_FAMILIES, (-5.0, 15.0), (3, 6), 0.0, False)
RICH = CorpusRecipe("rich", (tts.ESPEAK, tts.FESTIVAL), noises.ALL_FAMILIES, (-5.0, 20.0), (2, 8), 0.3, True, True)
RECIPES = {r.name: r for r in (CLASSIC, RICH)}


def recipe_named(name: str) -> CorpusRecipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise WuxError(f"unknown corpus recipe {name!r}; choose from {', '.join(RECIPES)}") from None


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
    engine: str = tts.ESPEAK
    warp: float = 1.0  # the speech is played `warp` times faster (50/k), a different-sounding speaker
    rt60_s: float = 0.0  # reverberation of the room the speaker is in; 0: dry


@dataclass(frozen=True)
class CorpusSummary:
    root: str
    seed: int
    recipe: str
    files: dict[str, int]
    minutes: dict[str, float]
    noise_families: list[str]
    snr_range_db: list[float]
    voices: dict[str, int]
    engines: dict[str, str]  # engine -> version
    reverberant_share: float

    def to_dict(self) -> dict:
        return asdict(self)


def speak(u: Utterance, sample_rate: int = DEFAULT_SAMPLE_RATE) -> np.ndarray:
    """The utterance's dry speech at sample_rate, float64, warped to its speaker."""
    wave = tts.speak(u.engine, u.voice, u.text, u.rate_wpm, u.pitch, sample_rate)
    return change_speed(wave, u.warp) if u.warp != 1.0 else wave


def plan_utterances(minutes: float, seed: int, test_share: float, recipe: CorpusRecipe = CLASSIC) -> list[Utterance]:
    """Every random choice of the corpus, drawn up front so that synthesis order does not matter.

    The classic draws come from one generator in a fixed order; what the richer recipes add (engine,
    warp, room) comes from a second one, so a classic corpus is the same bytes it always was."""
    rng = np.random.default_rng(seed)
    extra = np.random.default_rng((seed, 1))
    families = list(recipe.noise_families)
    seen_text: set[str] = set()
    plan: list[Utterance] = []
    for split in SPLITS:
        share = test_share if split == "test" else 1.0 - test_share
        count = max(2, int(round(minutes * share * 60 / SECONDS_PER_UTTERANCE)))
        for i in range(count):
            text = sentence(rng)
            while text in seen_text:  # test sentences never occur in training
                text = sentence(rng)
            seen_text.add(text)
            engine_idx = int(extra.integers(0, len(recipe.engines))) if len(recipe.engines) > 1 else 0
            engine = recipe.engines[engine_idx]
            voices = tts.voices_for(engine, split)
            voice_idx = int(rng.integers(0, len(voices)))
            speaker = voice_idx + 200 * engine_idx + (0 if split == "train" else 500)
            plan.append(Utterance(
                name=f"p{speaker:03d}_{i:04d}",
                split=split, voice=voices[voice_idx], rate_wpm=int(rng.integers(125, 200)),
                pitch=int(rng.integers(25, 80)), text=text,
                noise=families[i % len(families)],
                snr_db=round(float(rng.uniform(*recipe.snr_range_db)), 2),
                level_dbfs=round(float(rng.uniform(*SPEECH_LEVEL_DBFS)), 2),
                seed=int(rng.integers(0, 2**31)), engine=engine,
                warp=round(50 / int(extra.integers(WARP_STEPS[0], WARP_STEPS[1] + 1)), 6) if recipe.warp else 1.0,
                rt60_s=round(float(extra.uniform(*RT60_RANGE_S)), 3) if extra.random() < recipe.reverb_share else 0.0,
            ))
    return plan


def scale_to_dbfs(wave: np.ndarray, level_dbfs: float) -> np.ndarray:
    rms = np.sqrt(np.mean(wave**2)) + 1e-12
    return wave * (10 ** (level_dbfs / 20) / rms)


def in_room(speech: np.ndarray, rt60_s: float, seed: int, sample_rate: int) -> np.ndarray:
    """The speech as a microphone in a room hears it (the clean target keeps the room: wux denoises,
    it does not dereverberate)."""
    if rt60_s <= 0:
        return speech
    rir = room_impulse_response(np.random.default_rng((seed, 2)), sample_rate, rt60=rt60_s)
    return fft_convolve(speech, rir)


def babble_sources(plan: list[Utterance], idx: list[int], i: int, recipe: CorpusRecipe) -> list[int]:
    """Plan indices (of one split, `idx`) whose speech may make up utterance i's babble: every other
    utterance, or, when the recipe says so, every one by another speaker (all others if there is none)."""
    others = [j for j in idx if j != i] or idx
    if not recipe.babble_other_speakers:
        return others
    own = tts.timbre(plan[i].engine, plan[i].voice)
    return [j for j in others if tts.timbre(plan[j].engine, plan[j].voice) != own] or others


def mix_utterance(u: Utterance, speech: np.ndarray, others: list[np.ndarray], sample_rate: int,
                  babble_talkers: tuple[int, int] = CLASSIC.babble_talkers) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(u.seed)
    clean = scale_to_dbfs(in_room(speech, u.rt60_s, u.seed, sample_rate), u.level_dbfs)
    noise = noises.make_noise(u.noise, rng, len(clean), others, sample_rate, babble_talkers)
    clean, noisy = noises.within_full_scale(clean, noises.mix_at_snr(clean, noise, u.snr_db))
    return clean.astype(np.float32), noisy.astype(np.float32)


def check_engines(recipe: CorpusRecipe) -> dict[str, str]:
    """engine -> version; one line naming the packages when one is missing."""
    if tts.FESTIVAL in recipe.engines:
        tts.check_festival_voices([*tts.FESTIVAL_TRAIN_VOICES, *tts.FESTIVAL_TEST_VOICES])
    return {engine: tts.engine_version(engine) for engine in recipe.engines}


def synthesize_corpus(out: Path, minutes: float = 10.0, seed: int = 0, test_share: float = 0.15,
                      sample_rate: int = DEFAULT_SAMPLE_RATE, force: bool = False, jobs: int = 4,
                      progress: Callable[[int, int], None] | None = None,
                      recipe: CorpusRecipe = RICH) -> CorpusSummary:
    """Write clean/noisy train/test folders under `out`; deterministic given `seed` and `recipe`.

    `progress(done, total)` after each step: every utterance is spoken (in `jobs` threads), then mixed and written.
    """
    import soundfile as sf

    if not 0 < minutes < float("inf"):  # NaN too
        raise WuxError(f"--minutes must be a positive number, got {minutes}")
    versions = check_engines(recipe)
    plan = plan_utterances(minutes, seed, test_share, recipe)
    steps = 2 * len(plan)  # each utterance spoken, then mixed and written
    done = itertools.count(1)  # one step more each call, from any thread

    def step_done() -> None:
        if progress:
            progress(next(done), steps)

    def speak_one(u: Utterance) -> np.ndarray:
        wave = speak(u, sample_rate)
        step_done()
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
            for i in idx:
                u = plan[i]
                others = [speech[j] for j in babble_sources(plan, idx, i, recipe)]
                clean, noisy = mix_utterance(u, speech[i], others, sample_rate, recipe.babble_talkers)
                sf.write(clean_dir / f"{u.name}.wav", clean, sample_rate, subtype="PCM_16")
                sf.write(noisy_dir / f"{u.name}.wav", noisy, sample_rate, subtype="PCM_16")
                seconds[split] += len(clean) / sample_rate
                step_done()
        summary = CorpusSummary(
            root=str(out), seed=seed, recipe=recipe.name,
            files={s: sum(u.split == s for u in plan) for s in SPLITS},
            minutes={s: round(seconds[s] / 60, 2) for s in SPLITS},
            noise_families=list(recipe.noise_families), snr_range_db=list(recipe.snr_range_db),
            voices={s: sum(len(tts.voices_for(e, s)) for e in recipe.engines) for s in SPLITS},
            engines=versions, reverberant_share=round(float(np.mean([u.rt60_s > 0 for u in plan])), 3),
        )
        (tmp / CORPUS_RECORD).write_text(json.dumps(
            {"summary": summary.to_dict(), "recipe": recipe.to_dict(), "utterances": [asdict(u) for u in plan]},
            indent=1))
    return summary
