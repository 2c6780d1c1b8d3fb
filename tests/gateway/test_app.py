"""The gateway's HTTP API in-process (FastAPI's TestClient), backed by a real export in onnxruntime."""

import io

import numpy as np
import pytest
import soundfile as sf

from tests.test_cli import invoke
from wux.data.audio import read_audio
from wux.denoise import export_denoiser
from wux.gateway.app import create_app
from wux.gateway.config import GatewayConfig

pytest.importorskip("fastapi", reason="pip install 'wux[gateway]'")


@pytest.fixture(scope="module")
def client(exported):
    from fastapi.testclient import TestClient

    cfg = GatewayConfig(export=str(exported[0]), max_body_mb=1.0, max_seconds=20.0, max_concurrent=4)
    with TestClient(create_app(cfg)) as c:
        yield c


def ok(result):
    assert result.exit_code == 0, result.output
    return result


def wav_bytes(wave, rate=16000, fmt="WAV", subtype="FLOAT"):
    buf = io.BytesIO()
    sf.write(buf, wave, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def test_raw_and_multipart_uploads_give_what_the_export_gives_in_process(client, exported, wav_file, tmp_path):
    raw = client.post("/v1/denoise", content=wav_file.read_bytes(), headers={"content-type": "audio/wav"})
    form = client.post("/v1/denoise", files={"audio": ("noisy.wav", wav_file.read_bytes(), "audio/wav")})
    assert raw.status_code == form.status_code == 200 and raw.headers["content-type"] == "audio/wav"
    out, rate = sf.read(io.BytesIO(raw.content), dtype="float32")
    assert out.tobytes() == sf.read(io.BytesIO(form.content), dtype="float32")[0].tobytes()  # samples, not bytes:
    # libsndfile's PEAK chunk stamps the second a float WAV was written
    wave = read_audio(wav_file)
    assert rate == 16000 and out.shape == wave.shape
    # a float WAV comes back as float WAV: the same audio as `wux denoise --export` writes, and as the export
    # computes in-process, to the last bit
    assert sf.info(io.BytesIO(raw.content)).subtype == raw.headers["X-Sample-Format"] == "FLOAT"
    assert raw.headers["X-Clipped-Samples"] == "0"
    ok(invoke("denoise", wav_file, "-o", tmp_path / "cli.wav", "--export", exported[0]))
    assert np.array_equal(out, read_audio(tmp_path / "cli.wav"))
    here = export_denoiser(exported[0])(wave)
    assert np.array_equal(out, here)
    assert float(raw.headers["X-Processing-Ms"]) > 0 and float(raw.headers["X-Audio-Seconds"]) == pytest.approx(
        len(wave) / 16000, abs=1e-3)
    # a 16-bit WAV comes back 16-bit: the export's answer on those samples within 16-bit rounding
    sixteen = wav_bytes(wave, subtype="PCM_16")
    answer = client.post("/v1/denoise", content=sixteen)
    assert answer.headers["X-Sample-Format"] == sf.info(io.BytesIO(answer.content)).subtype == "PCM_16"
    back, _ = sf.read(io.BytesIO(answer.content), dtype="float32")
    sent, _ = sf.read(io.BytesIO(sixteen), dtype="float32")
    assert np.abs(back - export_denoiser(exported[0])(sent)).max() <= 1.01 / 32768


def test_other_rates_and_channels_come_back_as_they_were_sent(client, exported):
    rng = np.random.default_rng(3)
    stereo = (0.1 * rng.standard_normal((22050, 2))).astype(np.float32)  # one second at 22.05 kHz
    answer = client.post("/v1/denoise", files={"audio": ("s.flac", wav_bytes(stereo, 22050, "FLAC", "PCM_16"))})
    assert answer.status_code == 200, answer.text
    out, rate = sf.read(io.BytesIO(answer.content), dtype="float32", always_2d=True)
    assert rate == 22050 and out.shape == (22050, 2)
    assert not np.allclose(out[:, 0], out[:, 1], atol=1e-3)  # each channel denoised on its own


def test_audio_at_another_rate_comes_back_as_wux_denoise_writes_it(client, exported, tmp_path):
    wave = (0.1 * np.random.default_rng(4).standard_normal(22050 + 7)).astype(np.float32)
    sf.write(tmp_path / "in.wav", wave, 22050, subtype="FLOAT")
    answer = client.post("/v1/denoise", content=(tmp_path / "in.wav").read_bytes())
    assert answer.status_code == 200, answer.text
    ok(invoke("denoise", tmp_path / "in.wav", "-o", tmp_path / "cli.wav", "--export", exported[0], "--resample"))
    written, rate = sf.read(tmp_path / "cli.wav", dtype="float32")
    assert rate == 22050 and written.shape == wave.shape
    assert np.array_equal(sf.read(io.BytesIO(answer.content), dtype="float32")[0], written)


def bad_uploads():
    rng = np.random.default_rng(0)
    good = wav_bytes(0.1 * rng.standard_normal(1600).astype(np.float32))
    nan = np.zeros(100, dtype=np.float32)
    nan[3] = np.nan
    truncated = wav_bytes(np.zeros(16000, dtype=np.float32), subtype="PCM_16")[:44 + 16]
    return {
        "not audio": ({"content": b"hello, this is text"}, 415, "cannot read audio"),
        "empty body": ({"content": b""}, 422, "empty"),
        "empty audio": ({"content": wav_bytes(np.zeros(0, dtype=np.float32))}, 422, "no samples"),
        "nan": ({"content": wav_bytes(nan)}, 422, "NaN"),
        "truncated": ({"content": truncated}, 422, "truncated"),
        "wrong field": ({"files": {"file": ("a.wav", good)}}, 422, "no file field named 'audio'"),
        "too large": ({"content": good + b"\0" * (1 << 20)}, 413, "bytes"),
        "too long": ({"content": wav_bytes(np.zeros(16000 * 21, dtype=np.float32), subtype="PCM_16")}, 413, "21.0 s"),
    }


@pytest.mark.parametrize("case", list(bad_uploads()))
def test_bad_uploads_are_4xx_with_a_json_error(client, case):
    kwargs, status, fragment = bad_uploads()[case]
    answer = client.post("/v1/denoise", **kwargs)
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert fragment in body["error"] and body["status"] == status and "\n" not in body["error"]


def test_a_malformed_multipart_body_is_a_400_and_no_log_line(client, caplog):
    import logging

    with caplog.at_level(logging.DEBUG):
        answer = client.post("/v1/denoise", content=b"garbage",
                             headers={"content-type": "multipart/form-data; boundary=xyz"})
    assert answer.status_code == 400 and "malformed multipart body" in answer.json()["error"]
    assert [r.getMessage() for r in caplog.records if "multipart" in r.name] == []


def test_health_readiness_info_docs_and_page(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    info = client.get("/v1/info").json()
    assert info["model_sample_rate"] == 16000 and info["max_concurrent"] == 4
    assert "/v1/denoise" in client.get("/openapi.json").json()["paths"]
    page = client.get("/")
    assert page.status_code == 200 and 'id="file"' in page.text and "v1/denoise" in page.text
    assert client.get("/nope").status_code == 404 and "error" in client.get("/nope").json()
    assert client.get("/v1/denoise").status_code == 405


def test_metrics_count_requests_by_status_and_audio_seconds(client, wav_file):
    def sample(text, name):
        line = next((x for x in text.splitlines() if x.startswith(name + " ") or x.startswith(name + "{")), None)
        return float(line.rsplit(" ", 1)[1]) if line else 0.0

    before = client.get("/metrics").text
    client.post("/v1/denoise", content=wav_file.read_bytes())
    client.post("/v1/denoise", content=b"junk")
    after = client.get("/metrics").text
    ok, bad = 'wux_gateway_requests_total{status="200"}', 'wux_gateway_requests_total{status="415"}'
    assert sample(after, ok) == sample(before, ok) + 1 and sample(after, bad) == sample(before, bad) + 1
    audio = "wux_gateway_audio_seconds_total"
    assert sample(after, audio) - sample(before, audio) == pytest.approx(20_000 / 16000, abs=1e-3)
    assert sample(after, "wux_gateway_request_seconds_count") == sample(before, "wux_gateway_request_seconds_count") + 1


def test_over_the_concurrency_limit_is_429_with_retry_after(exported, wav_file):
    """The limit is counted, not timed: a backend held on a barrier keeps 2 requests in progress for sure."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from fastapi.testclient import TestClient

    from wux.gateway.backends import open_backend

    cfg = GatewayConfig(export=str(exported[0]), max_concurrent=2)
    backend = open_backend(cfg)
    entered, release = threading.Semaphore(0), threading.Event()
    denoise = backend.denoise

    def held(wave):
        entered.release()
        release.wait(30)
        return denoise(wave)

    backend.denoise = held
    with TestClient(create_app(cfg, backend)) as c, ThreadPoolExecutor(2) as pool:
        busy = [pool.submit(c.post, "/v1/denoise", content=wav_file.read_bytes()) for _ in range(2)]
        assert entered.acquire(timeout=30) and entered.acquire(timeout=30)
        refused = c.post("/v1/denoise", content=wav_file.read_bytes())
        release.set()
        assert [f.result().status_code for f in busy] == [200, 200]
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert "2 requests are in progress" in refused.json()["error"]


def test_configuration_errors_are_one_line():
    from wux.errors import ConfigError

    with pytest.raises(ConfigError, match="--export DIR or --url"):
        GatewayConfig()
    with pytest.raises(ConfigError, match="export folder not found"):
        GatewayConfig(export="/nonexistent/export")
    with pytest.raises(ConfigError, match="--max-concurrent must be a positive number"):
        GatewayConfig(urls=("127.0.0.1:1",), max_concurrent=0)


def test_an_address_it_cannot_listen_on_is_one_line_before_anything_starts(exported):
    import socket

    from tests.test_cli import assert_one_line_error

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert_one_line_error(invoke("gateway", "--export", exported[0], "--port", port),
                              f"cannot listen on 127.0.0.1:{port}", "in use")
    assert_one_line_error(invoke("gateway", "--export", exported[0], "--host", "999.1.1.1"),
                          "cannot listen on 999.1.1.1")


def test_the_app_imports_no_model_runtime():
    """A Triton-backed gateway worker never runs a model here: torch and onnxruntime load only with --export."""
    import subprocess
    import sys

    code = ("import sys, wux.gateway.app; "
            "print(sorted(m for m in ('torch', 'onnx', 'onnxruntime', 'tensorrt') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
