"""Offline text-to-speech voices for the synthetic corpus: espeak-ng's formant voices and Festival's
diphone / HTS / cluster-unit voices, which are cut from recordings of real speakers."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from wux.data.resample import resample_poly
from wux.errors import MissingDependency, WuxError

ESPEAK = "espeak"
FESTIVAL = "festival"
ENGINES = (ESPEAK, FESTIVAL)

ESPEAK_BASES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan")
ESPEAK_VARIANTS = ("m1", "m3", "m5", "m7", "f1", "f2", "f3", "f4", "klatt", "klatt3", "Andy", "belinda")
# Variants only the test split uses, so that its speakers are unseen.
ESPEAK_TEST_VARIANTS = ("f4", "klatt3")

# Debian's Festival voices (apt packages in FESTIVAL_PACKAGES). The non-English ones read the English
# sentences with their own speaker's units: foreign-accented speech, a real voice's timbre all the same.
FESTIVAL_TRAIN_VOICES = ("kal_diphone", "cmu_us_slt_arctic_hts", "lp_diphone", "pc_diphone", "hy_fi_mv_diphone",
                         "czech_dita", "czech_ph", "upc_ca_ona_hts", "msu_ru_nsh_clunits")
FESTIVAL_TEST_VOICES = ("ked_diphone", "suo_fi_lj_diphone", "czech_machac")
FESTIVAL_PACKAGES = ("festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts festvox-italp16k "
                     "festvox-itapc16k festvox-suopuhe-lj festvox-suopuhe-mv festvox-czech-dita "
                     "festvox-czech-machac festvox-ca-ona-hts festvox-ru")
NORMAL_RATE_WPM = 165  # Festival's own speaking rate, roughly; Duration_Stretch scales from it


def voices_for(engine: str, split: str) -> list[str]:
    """Voice names of one engine that a split may use; test voices never occur in training."""
    test = split == "test"
    if engine == ESPEAK:
        variants = [v for v in ESPEAK_VARIANTS if (v in ESPEAK_TEST_VARIANTS) == test]
        return [f"{base}+{var}" for base in ESPEAK_BASES for var in variants]
    if engine == FESTIVAL:
        return list(FESTIVAL_TEST_VOICES if test else FESTIVAL_TRAIN_VOICES)
    raise WuxError(f"unknown speech engine {engine!r}; choose from {', '.join(ENGINES)}")


def timbre(engine: str, voice: str) -> str:
    """Who a voice sounds like: espeak-ng's variant carries the timbre (en-us+f4 and en-gb+f4 are one
    speaker with two accents); each Festival voice is its own recorded speaker."""
    return f"{engine}:{voice.split('+')[-1] if engine == ESPEAK else voice}"


def binary(engine: str) -> str:
    name = "espeak-ng" if engine == ESPEAK else "text2wave"
    path = shutil.which(name)
    if not path:
        package = "espeak-ng" if engine == ESPEAK else FESTIVAL_PACKAGES
        raise MissingDependency(name, hint=f"apt-get install -y {package}")
    return path


def engine_version(engine: str) -> str:
    if engine == ESPEAK:
        out = subprocess.run([binary(ESPEAK), "--version"], capture_output=True, text=True, check=False).stdout
        return out.strip().split(":")[1].strip().split()[0] if ":" in out else out.strip()
    binary(FESTIVAL)
    festival = shutil.which("festival")
    out = subprocess.run([festival, "--version"], capture_output=True, text=True, check=False).stdout \
        if festival else ""
    found = re.search(r"\d+\.\d+(\.\d+)?", out)
    return found.group(0) if found else "unknown"


def check_festival_voices(voices: list[str]) -> None:
    """One line naming the packages when a Festival voice is not installed."""
    missing = [v for v in voices if not list(Path("/usr/share/festival/voices").glob(f"*/{v}"))]
    if missing:
        raise MissingDependency(f"Festival voice(s) {', '.join(missing)}",
                                hint=f"apt-get install -y {FESTIVAL_PACKAGES}")


def run_engine(cmd: list[str], engine: str, voice: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, input=stdin.encode() if stdin else None, capture_output=True, check=False, timeout=120)
    if proc.returncode != 0:
        raise WuxError(f"{engine} failed for voice {voice}: {proc.stderr.decode(errors='replace').strip()}")
    return proc


def espeak_wave(voice: str, text: str, rate_wpm: int, pitch: int) -> tuple[np.ndarray, int]:
    import soundfile as sf

    cmd = [binary(ESPEAK), "-v", voice, "-s", str(rate_wpm), "-p", str(pitch), "--stdout", text]
    proc = run_engine(cmd, ESPEAK, voice)
    if len(proc.stdout) < 100:
        raise WuxError(f"espeak-ng wrote no audio for voice {voice}")
    wave, rate = sf.read(io.BytesIO(proc.stdout), dtype="float64")
    return wave, rate


def festival_wave(voice: str, text: str, rate_wpm: int) -> tuple[np.ndarray, int]:
    """Festival's waveform; a voice whose intonation rules fail on a question (Italian's do) says it plainly."""
    try:
        return festival_say(voice, text, rate_wpm)
    except SilentVoice:
        return festival_say(voice, text.replace("?", "."), rate_wpm)


class SilentVoice(WuxError):
    pass


def festival_say(voice: str, text: str, rate_wpm: int) -> tuple[np.ndarray, int]:
    import soundfile as sf

    stretch = NORMAL_RATE_WPM / rate_wpm
    with tempfile.TemporaryDirectory(prefix="wux-festival-") as tmp:
        out = Path(tmp) / "say.wav"
        cmd = [binary(FESTIVAL), "-eval", f"(voice_{voice})",
               "-eval", f"(Parameter.set 'Duration_Stretch {stretch:.3f})", "-o", str(out)]
        run_engine(cmd, FESTIVAL, voice, stdin=text)
        if not out.exists() or out.stat().st_size < 100:
            raise SilentVoice(f"Festival wrote no audio for voice {voice}")
        wave, rate = sf.read(out, dtype="float64")
    return wave, rate


def speak(engine: str, voice: str, text: str, rate_wpm: int, pitch: int, sample_rate: int) -> np.ndarray:
    """One utterance as float64 at sample_rate (espeak-ng's pitch only; Festival voices keep their own)."""
    if engine == ESPEAK:
        wave, rate = espeak_wave(voice, text, rate_wpm, pitch)
    else:
        wave, rate = festival_wave(voice, text, rate_wpm)
    if wave.ndim > 1:
        wave = wave.mean(axis=1)
    return resample_poly(wave, rate, sample_rate).astype(np.float64)
