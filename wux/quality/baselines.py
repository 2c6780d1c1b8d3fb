"""Well-known denoisers to run beside the model on the same files: RNNoise and spectral gating.

Each baseline is a function (mono float waveform at `rate`) -> waveform of the same length and alignment."""

from __future__ import annotations

import ctypes
import importlib.util
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from wux.data.resample import fit_length, processed_at_rate
from wux.errors import MissingDependency, WuxError
from wux.quality import BASELINE_NAMES
from wux.tools import require

Denoise = Callable[[np.ndarray], np.ndarray]

RNNOISE_RATE = 48_000  # RNNoise works on 10 ms frames of 48 kHz audio, in 16-bit sample units
RNNOISE_FRAME = 480
# RNNoise's output lags its input by 20 ms (a 10 ms frame plus the 10 ms overlap of its analysis window);
# measured here by cross-correlating clean speech with its output: 960 samples at 48 kHz, every file.
RNNOISE_DELAY = 2 * RNNOISE_FRAME
INT16_SCALE = 32768.0


def load_librnnoise() -> ctypes.CDLL:
    """The RNNoise C library that the pyrnnoise wheel carries (its Python wrapper is not imported: it pulls in
    an FFmpeg binding wux does not need)."""
    spec = importlib.util.find_spec("pyrnnoise")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependency("pyrnnoise", extra="rnnoise")
    path = Path(list(spec.submodule_search_locations)[0]) / "librnnoise.so"
    if not path.exists():
        raise MissingDependency(f"librnnoise.so in {path.parent}", extra="rnnoise")
    lib = ctypes.CDLL(str(path))
    lib.rnnoise_create.argtypes = [ctypes.c_void_p]
    lib.rnnoise_create.restype = ctypes.c_void_p
    lib.rnnoise_destroy.argtypes = [ctypes.c_void_p]
    lib.rnnoise_process_frame.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float),
                                          ctypes.POINTER(ctypes.c_float)]
    lib.rnnoise_process_frame.restype = ctypes.c_float
    lib.rnnoise_get_frame_size.restype = ctypes.c_int
    if lib.rnnoise_get_frame_size() != RNNOISE_FRAME:
        raise WuxError(f"{path}: RNNoise frame size {lib.rnnoise_get_frame_size()}, expected {RNNOISE_FRAME}")
    return lib


def rnnoise_at_48k(lib: ctypes.CDLL, wave: np.ndarray) -> np.ndarray:
    """RNNoise run frame by frame over a 48 kHz wave (float, full scale 1), its 20 ms delay removed."""
    x = np.asarray(wave, dtype=np.float32) * INT16_SCALE
    n = len(x)
    frames = -(-(n + RNNOISE_DELAY) // RNNOISE_FRAME)
    buf = np.zeros(frames * RNNOISE_FRAME, dtype=np.float32)
    buf[:n] = x
    state = lib.rnnoise_create(None)
    try:
        for i in range(frames):
            frame = np.ascontiguousarray(buf[i * RNNOISE_FRAME:(i + 1) * RNNOISE_FRAME])
            ptr = frame.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            lib.rnnoise_process_frame(state, ptr, ptr)
            buf[i * RNNOISE_FRAME:(i + 1) * RNNOISE_FRAME] = frame
    finally:
        lib.rnnoise_destroy(state)
    return buf[RNNOISE_DELAY: RNNOISE_DELAY + n] / INT16_SCALE


def rnnoise(rate: int) -> Denoise:
    """RNNoise (Valin 2018) at its own 48 kHz, the wave resampled in and out the way a model at one rate
    answers audio at another."""
    lib = load_librnnoise()
    return lambda wave: processed_at_rate(partial(rnnoise_at_48k, lib), wave, rate, RNNOISE_RATE)


def spectral_gating(rate: int) -> Denoise:
    """noisereduce's non-stationary spectral gating (Sainburg 2020) with its default settings."""
    noisereduce = require("noisereduce")

    def denoise(wave: np.ndarray) -> np.ndarray:
        out = noisereduce.reduce_noise(y=np.asarray(wave, dtype=np.float32), sr=rate, stationary=False)
        return fit_length(np.asarray(out), len(wave)).astype(np.float32)

    return denoise


BASELINES: dict[str, Callable[[int], Denoise]] = dict(zip(BASELINE_NAMES, (rnnoise, spectral_gating)))


def baseline(name: str, rate: int) -> Denoise:
    try:
        make = BASELINES[name]
    except KeyError:
        raise WuxError(f"--baseline: unknown baseline {name!r}; choose from {', '.join(BASELINES)}") from None
    return make(rate)
