import struct
import time

import numpy as np
import pytest
import soundfile as sf

from wux.data.audio import encode_audio, list_audio_files, peak_time_offset, read_audio, write_audio
from wux.data.resample import resample_poly
from wux.errors import AudioError


def test_round_trip_wav_and_flac(tmp_path):
    wave = (0.5 * np.sin(np.arange(16000) / 10)).astype(np.float32)
    for suffix in (".wav", ".flac"):
        path = write_audio(tmp_path / f"a{suffix}", wave)
        back = read_audio(path)
        assert back.dtype == np.float32 and len(back) == len(wave)
        assert np.abs(back - wave).max() < 1e-4  # 16-bit quantisation
    assert sorted(p.name for p in list_audio_files([tmp_path])) == ["a.flac", "a.wav"]


def test_float_wavs_carry_no_write_time_so_the_same_samples_make_the_same_bytes(tmp_path):
    """libsndfile stamps a float WAV's PEAK chunk with the second it was written: answers or files written a
    second apart would differ in those 4 bytes. wux zeroes them; the peak values and samples stay."""
    wave = np.array([0.25, -0.75, 0.5], dtype=np.float32)
    raw = tmp_path / "libsndfile.wav"
    sf.write(raw, wave, 16000, subtype="FLOAT")
    stamped = raw.read_bytes()
    at = peak_time_offset(stamped)
    assert at == stamped.index(b"PEAK") + 12  # after the chunk's tag, size and version
    assert abs(struct.unpack("<I", stamped[at:at + 4])[0] - time.time()) < 600  # what libsndfile writes: the time
    for data in (encode_audio(wave, 16000, subtype="FLOAT"),
                 write_audio(tmp_path / "wux.wav", wave, subtype="FLOAT").read_bytes()):
        assert data[at:at + 4] == bytes(4)
        assert data[:at] == stamped[:at] and data[at + 4:] == stamped[at + 4:]  # peak values and samples as written
    assert peak_time_offset(encode_audio(wave, 16000)) is None  # 16-bit WAVs have no PEAK chunk


def bad_audio(tmp_path, case):
    path = tmp_path / f"{case.replace(' ', '_')}.wav"
    if case == "missing":
        return tmp_path / "absent.wav", "not found"
    if case == "not audio":
        path.write_text("definitely not RIFF")
        return path, "cannot read audio"
    if case == "empty":
        sf.write(path, np.zeros(0, dtype=np.float32), 16000)
        return path, "contains no samples"
    if case == "0 bytes":  # an interrupted download or a touch: libsndfile would call it an unknown format
        path.write_bytes(b"")
        return path, "is empty (0 bytes), not audio"
    if case == "nan":
        x = np.zeros(100, dtype=np.float32)
        x[5] = np.nan
        x[7] = np.inf
        sf.write(path, x, 16000, subtype="FLOAT")
        return path, "2 NaN or Inf"
    if case == "stereo":
        sf.write(path, np.zeros((100, 2), dtype=np.float32), 16000)
        return path, "2 channels"
    if case == "rate":
        sf.write(path, np.zeros(100, dtype=np.float32), 44100)
        return path, "sample rate is 44100 Hz"
    if case == "truncated":  # a header promising 16000 frames over 8 of them (an interrupted copy)
        sf.write(path, np.zeros(16000, dtype=np.float32), 16000)
        path.write_bytes(path.read_bytes()[:44 + 16])
        return path, "truncated: its header promises 16000 frames but the file holds 8"
    if case in ("a checkpoint", "a legacy checkpoint"):  # `wux denoise model.wux.pt`: "Format not recognised"
        import torch

        path = tmp_path / "model.wux.pt"
        torch.save({"state_dict": {"w": torch.zeros(2)}}, path, _use_new_zipfile_serialization=case == "a checkpoint")
        return path, "is a zip archive or a pickle (a PyTorch checkpoint?), not audio"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["missing", "not audio", "empty", "0 bytes", "nan", "stereo", "rate",
                                  "truncated", "a checkpoint", "a legacy checkpoint"])
def test_bad_audio_gives_one_line_error(tmp_path, case):
    path, fragment = bad_audio(tmp_path, case)
    with pytest.raises(AudioError) as err:
        read_audio(path)
    assert fragment in str(err.value) and str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_streamed_and_padded_wavs_are_not_called_truncated(tmp_path):
    from wux.data.audio import wav_shortfall

    path = tmp_path / "s.wav"
    sf.write(path, np.zeros(101, dtype=np.float32), 16000, subtype="PCM_16")
    whole = path.read_bytes()
    assert wav_shortfall(whole, len(whole)) is None and wav_shortfall(whole + b"\0" * 7, len(whole) + 7) is None
    unknown = whole[:40] + b"\xff\xff\xff\xff" + whole[44:60]  # a writer that never learnt the length
    assert wav_shortfall(unknown, len(unknown)) is None
    assert wav_shortfall(whole[:60], 60) == (101, 8)
    assert len(read_audio(path)) == 101


def test_downmix_and_resample_on_request(tmp_path):
    t = np.arange(44100) / 44100
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    sf.write(tmp_path / "s.wav", np.stack([left, left], axis=1), 44100, subtype="FLOAT")
    wave = read_audio(tmp_path / "s.wav", downmix=True, resample=True)
    assert len(wave) == 16000
    ref = 0.5 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    assert np.abs(wave - ref)[200:-200].max() < 1e-3


def test_write_refuses_unknown_suffix_and_nan(tmp_path):
    with pytest.raises(AudioError, match="unsupported output format"):
        write_audio(tmp_path / "x.mp3", np.zeros(10))
    with pytest.raises(AudioError, match="NaN"):
        write_audio(tmp_path / "x.wav", np.array([0.0, np.nan]))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("rate_in,rate_out", [(22050, 16000), (48000, 16000), (8000, 16000), (16000, 44100)])
def test_resampler_keeps_an_in_band_tone(rate_in, rate_out):
    x = np.sin(2 * np.pi * 1000 * np.arange(rate_in) / rate_in)
    y = resample_poly(x, rate_in, rate_out)
    assert len(y) == rate_out
    ref = np.sin(2 * np.pi * 1000 * np.arange(rate_out) / rate_out)
    assert np.abs(y - ref)[300:-300].max() < 1e-3


def test_resampler_rejects_out_of_band_tone():
    """A 12 kHz tone cannot exist at 16 kHz: it must be filtered, not aliased to 4 kHz."""
    x = np.sin(2 * np.pi * 12000 * np.arange(48000) / 48000)
    y = resample_poly(x, 48000, 16000)
    assert np.sqrt(np.mean(y[300:-300] ** 2)) < 1e-3
