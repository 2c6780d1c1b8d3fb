import numpy as np
import pytest
import soundfile as sf

from wux import render
from wux.denoise import denoise_files
from wux.errors import AudioError

RATE = 16_000


def loud(wave: np.ndarray) -> np.ndarray:
    """A 'model' whose output goes beyond full scale where the input passes 1/3."""
    return 3.0 * wave


def test_outputs_keep_the_inputs_sample_format_and_count_what_is_clipped(tmp_path):
    wave = (0.5 * np.sin(np.arange(RATE) * 2 * np.pi * 220 / RATE)).astype(np.float32)
    inputs = tmp_path / "in"
    inputs.mkdir()
    sf.write(inputs / "float.wav", wave, RATE, subtype="FLOAT")
    sf.write(inputs / "deep.flac", wave, RATE, subtype="PCM_24")
    sf.write(inputs / "cd.wav", wave, RATE, subtype="PCM_16")
    beyond = int(np.count_nonzero(np.abs(loud(wave)) > 1.0))
    assert 0 < beyond < len(wave)

    files = {f.input.split("/")[-1]: f for f in denoise_files([inputs], tmp_path / "out", loud, RATE)}
    assert (files["float.wav"].sample_format, files["float.wav"].clipped) == ("FLOAT", 0)
    kept, _ = sf.read(tmp_path / "out" / "float.wav", dtype="float32")
    assert np.abs(kept).max() > 1.4  # float keeps what is beyond full scale
    for name, subtype in (("deep.flac", "PCM_24"), ("cd.wav", "PCM_16")):
        assert (files[name].sample_format, files[name].clipped) == (subtype, beyond)
        assert sf.info(str(tmp_path / "out" / name)).subtype == subtype
        assert np.abs(sf.read(tmp_path / "out" / name)[0]).max() <= 1.0

    # a float WAV into FLAC, which holds no float: 24-bit, not 16
    (one,) = denoise_files([inputs / "float.wav"], tmp_path / "float.flac", loud, RATE)
    assert (one.sample_format, one.clipped) == ("PCM_24", beyond)


def test_clipping_is_reported_on_stderr_and_only_when_it_happened(capsys):
    row = {"input": "a.wav", "output": "b.wav", "seconds": 1.0, "samples": 16_000, "sample_format": "PCM_16"}
    render.denoised({"files": [{**row, "clipped": 160}, {**row, "clipped": 0}]})
    out, err = capsys.readouterr()
    assert out.count("a.wav -> b.wav") == 2
    assert err.count("warning") == 1 and "160 output samples (1 %) beyond full scale were clipped" in err


def test_a_file_at_another_rate_is_denoised_at_the_models_and_written_back_at_its_own(tmp_path):
    n = 48_000 + 7  # one second and an odd tail at 48 kHz
    wave = (0.5 * np.sin(np.arange(n) * 2 * np.pi * 440 / 48_000)).astype(np.float32)
    sf.write(tmp_path / "in.wav", wave, 48_000, subtype="PCM_24")
    heard = []

    def halve(x):  # a 'model' at 16 kHz
        heard.append(len(x))
        return 0.5 * x

    with pytest.raises(AudioError, match="sample rate is 48000 Hz but the model expects 16000 Hz"):
        denoise_files([tmp_path / "in.wav"], tmp_path / "out.wav", halve, RATE)
    assert not (tmp_path / "out.wav").exists()
    (one,) = denoise_files([tmp_path / "in.wav"], tmp_path / "out.wav", halve, RATE, resample=True)
    assert heard == [-(-n // 3)]  # it heard the file at its own rate
    out, rate = sf.read(tmp_path / "out.wav", dtype="float32")
    assert (rate, len(out), sf.info(str(tmp_path / "out.wav")).subtype) == (48_000, n, "PCM_24")
    assert (one.samples, one.seconds, one.sample_format) == (n, pytest.approx(n / 48_000), "PCM_24")
    inner = slice(2000, n - 2000)  # the resampler's edges aside
    assert np.abs(out[inner] - 0.5 * wave[inner]).max() < 1e-3


def test_each_channel_is_denoised_on_its_own_unless_downmixed(tmp_path, capsys):
    rng = np.random.default_rng(1)
    stereo = (0.2 * rng.standard_normal((RATE, 2))).astype(np.float32)
    sf.write(tmp_path / "st.wav", stereo, RATE, subtype="FLOAT")
    calls = []

    def model(x):
        calls.append(x.copy())
        return 0.5 * x

    (one,) = denoise_files([tmp_path / "st.wav"], tmp_path / "out.wav", model, RATE)
    out, rate = sf.read(tmp_path / "out.wav", dtype="float32", always_2d=True)
    assert len(calls) == 2 and np.array_equal(calls[1], stereo[:, 1])  # one channel at a time
    assert rate == RATE and np.array_equal(out, 0.5 * stereo) and one.channels == 2
    render.denoised({"files": [one.to_dict()]})
    assert "(1.00 s, 2 channels)" in capsys.readouterr().out
    (mixed,) = denoise_files([tmp_path / "st.wav"], tmp_path / "mono.wav", model, RATE, downmix=True)
    mono, _ = sf.read(tmp_path / "mono.wav", dtype="float32", always_2d=True)
    assert mixed.channels == 1 and np.allclose(mono[:, 0], 0.5 * stereo.mean(axis=1), atol=1e-7)


def test_a_folder_is_denoised_one_file_in_memory_at_a_time(tmp_path):
    import tracemalloc

    def peak_bytes(count: int) -> int:
        folder = tmp_path / f"in{count}"
        folder.mkdir()
        for i in range(count):
            sf.write(folder / f"{i}.wav", np.full(10 * RATE, 0.1, dtype=np.float32), RATE, subtype="FLOAT")
        tracemalloc.start()
        denoise_files([folder], tmp_path / f"out{count}", loud, RATE)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak

    one_file = 10 * RATE * 4  # bytes of one file's samples
    assert peak_bytes(20) - peak_bytes(2) < 3 * one_file  # not 18 more files held at once


def test_every_input_is_validated_before_writing_and_the_last_one_read_is_not_read_again(tmp_path, monkeypatch):
    import wux.denoise

    real, reads = wux.denoise.read_channels_as_stored, []

    def counted(path, *args, **kwargs):
        reads.append(path.name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(wux.denoise, "read_channels_as_stored", counted)
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.wav", "b.wav"):
        sf.write(folder / name, np.full(RATE, 0.1, dtype=np.float32), RATE, subtype="FLOAT")
    denoise_files([folder / "a.wav"], tmp_path / "a.wav", loud, RATE)
    assert reads == ["a.wav"]
    reads.clear()
    files = denoise_files([folder], tmp_path / "out", loud, RATE)
    assert reads == ["a.wav", "b.wav", "a.wav"]  # both validated first; b, still held, written without a re-read
    assert [f.samples for f in files] == [RATE, RATE]
    assert np.allclose(sf.read(tmp_path / "out" / "b.wav", dtype="float32")[0], 0.3)
