"""Spectrograms of noisy, denoised and clean audio in one PNG, on one colour scale, for a listening check
with the eyes (matplotlib: pip install 'wux[plot]')."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wux.errors import WuxError
from wux.fsutil import atomic_file, check_writable
from wux.tools import require

N_FFT = 512  # 32 ms at 16 kHz: the usual speech analysis window
HOP = 128
DYNAMIC_RANGE_DB = 80.0  # the colour scale spans this much below the loudest bin of all panels


def spectrogram_db(wave: np.ndarray, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """|STFT|^2 in dB, [frequency bins, frames], Hann window."""
    x = np.asarray(wave, dtype=np.float64)
    if len(x) < n_fft:
        x = np.pad(x, (0, n_fft - len(x)))
    frames = 1 + (len(x) - n_fft) // hop
    index = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    spectrum = np.fft.rfft(x[index] * np.hanning(n_fft), axis=1)
    return 10 * np.log10(np.abs(spectrum.T) ** 2 + 1e-12)


def write_spectrograms(path: Path, panels: dict[str, np.ndarray], rate: int, title: str | None = None) -> Path:
    """One panel per named waveform, stacked, same time and colour axes; written atomically."""
    require("matplotlib").use("Agg")
    plt = require("matplotlib.pyplot")
    images = {name: spectrogram_db(wave) for name, wave in panels.items()}
    top = max(float(img.max()) for img in images.values())
    seconds = max(len(w) for w in panels.values()) / rate
    fig, axes = plt.subplots(len(images), 1, figsize=(9, 2.3 * len(images) + 0.6), sharex=True, squeeze=False)
    for ax, (name, img) in zip(axes[:, 0], images.items()):
        shown = ax.imshow(img, origin="lower", aspect="auto", cmap="magma", vmin=top - DYNAMIC_RANGE_DB, vmax=top,
                          extent=(0, img.shape[1] * HOP / rate, 0, rate / 2000))
        ax.set_ylabel("kHz")
        ax.set_title(name, fontsize=10, loc="left")
        ax.set_xlim(0, seconds)
    axes[-1, 0].set_xlabel("seconds")
    fig.colorbar(shown, ax=axes[:, 0].tolist(), label="dB", shrink=0.9)
    if title:
        fig.suptitle(title, fontsize=11)
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


def check_plot_request(inputs: list[Path], png: Path) -> None:
    """`wux denoise --plot` draws one file into a PNG it can write: refuse anything else before any work."""
    if len(inputs) != 1 or Path(inputs[0]).is_dir():
        raise WuxError("--plot draws one file's spectrograms: give exactly one input file")
    require("matplotlib")
    if Path(png).is_dir():  # the probe beside it would pass, and the PNG fail after the denoised file was written
        raise WuxError("is a folder; --plot takes the PNG file to write", png)
    check_writable(Path(png))


def plot_denoised(noisy_path: Path, denoised_path: Path, png: Path) -> Path:
    """Spectrograms of a file and its denoised output (mono, at the output's rate)."""
    import soundfile as sf

    from wux.data.audio import read_audio

    rate = sf.info(str(denoised_path)).samplerate
    noisy = read_audio(noisy_path, rate, downmix=True, resample=True)
    denoised = read_audio(denoised_path, rate, downmix=True, resample=True)
    return write_spectrograms(png, {f"noisy: {Path(noisy_path).name}": noisy,
                                    f"denoised: {Path(denoised_path).name}": denoised}, rate)
