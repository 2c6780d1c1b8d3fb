"""`wux gateway` as its users run it: a real uvicorn process (two workers) on 127.0.0.1, stopped by its PID;
the gateway in front of a real tritonserver; the page in Debian's headless Chromium."""

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.gateway.test_app import ok
from tests.test_cli import invoke
from wux.data.audio import read_audio
from wux.gateway.process import GatewayProcess
from wux.metrics import si_snr_db
from wux.triton_repo.server import free_port

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi", reason="pip install 'wux[gateway]'")
ARTIFACTS = Path(os.environ.get("WUX_TEST_ARTIFACTS", "test-artifacts"))  # kept by the test run (gitignored)


@pytest.fixture(scope="module")
def gateway(exported):
    gw = GatewayProcess("--export", str(exported[0]), "--workers", "2", "--max-seconds", "30")
    try:
        gw.wait_ready()
        yield gw
    finally:
        assert gw.stop() == 0


@pytest.mark.slow
def test_two_workers_answer_curl_style_uploads_and_sum_their_metrics(gateway, wav_file, tmp_path):
    ok(invoke("denoise", wav_file, "-o", tmp_path / "cli.wav", "--export", gateway_export(gateway)))
    with httpx.Client(base_url=gateway.url, timeout=60) as c:
        answers = [c.post("/v1/denoise", files={"audio": ("noisy.wav", wav_file.read_bytes())}) for _ in range(6)]
        metrics = c.get("/metrics").text
        too_long = c.post("/v1/denoise", content=_wav(np.zeros(16000 * 31, dtype=np.float32)))
    assert [a.status_code for a in answers] == [200] * 6
    out, _ = sf.read(io.BytesIO(answers[0].content), dtype="float32")
    assert si_snr_db(out, read_audio(tmp_path / "cli.wav")) >= 60
    # the same samples from both workers (not the same bytes: libsndfile's PEAK chunk in a float WAV stamps the
    # second it was written, so six answers that straddle a second differ there)
    assert len({sf.read(io.BytesIO(a.content), dtype="float32")[0].tobytes() for a in answers}) == 1
    # six answered by whichever worker took them: /metrics adds up every worker's counts
    assert 'wux_gateway_requests_total{status="200"} 6.0' in metrics
    assert too_long.status_code == 413 and "31.0 s" in too_long.json()["error"]


def gateway_export(gw: GatewayProcess) -> str:
    args = gw.proc.args
    return args[args.index("--export") + 1]


def _wav(wave, rate=16000):
    buf = io.BytesIO()
    sf.write(buf, wave, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def test_a_wrong_backend_is_one_line_before_any_worker_starts(tmp_path):
    result = invoke("gateway", "--export", tmp_path / "absent")
    assert result.exit_code == 2 and "export folder not found" in result.output
    result = invoke("gateway", "--url", f"127.0.0.1:{free_port()}")
    assert result.exit_code == 2 and "no Triton replica is reachable" in result.output
    # an option of the other way is refused, not ignored
    result = invoke("gateway", "--url", f"127.0.0.1:{free_port()}", "--precision", "int8")
    assert result.exit_code == 2 and "--precision does not apply with --url" in result.output
    result = invoke("gateway", "--export", tmp_path / "absent", "-m", "demucs")
    assert result.exit_code == 2 and "--served-model does not apply with --export" in result.output


@pytest.mark.server
@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_the_gateway_over_triton_gives_what_wux_denoise_gives(served, wav_file, tmp_path, protocol):
    from fastapi.testclient import TestClient

    from wux.gateway.app import create_app
    from wux.gateway.config import GatewayConfig

    info, _ = served
    url = info.grpc_url if protocol == "grpc" else info.http_url
    ok(invoke("denoise", wav_file, "-o", tmp_path / "cli.wav", "--url", info.grpc_url))
    with TestClient(create_app(GatewayConfig(urls=(url,), protocol=protocol))) as c:
        answer = c.post("/v1/denoise", files={"audio": ("noisy.wav", wav_file.read_bytes())})
        ready = c.get("/readyz").json()
    assert answer.status_code == 200, answer.text
    out, _ = sf.read(io.BytesIO(answer.content), dtype="float32")
    assert si_snr_db(out, read_audio(tmp_path / "cli.wav")) >= 60
    assert ready["backend"] == f"Triton {url}"


CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.mark.slow
@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="apt-get install chromium chromium-driver")
def test_the_page_in_headless_chromium(gateway, wav_file):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    try:
        driver.get(gateway.url + "/")
        driver.find_element(By.ID, "file").send_keys(str(wav_file))
        driver.find_element(By.ID, "go").click()
        WebDriverWait(driver, 60).until(lambda d: d.find_element(By.ID, "status").text in ("done",)
                                        or "error" in d.find_element(By.ID, "status").get_attribute("class"))
        assert driver.find_element(By.ID, "status").text == "done"
        timing = driver.find_element(By.ID, "timing").text
        assert "s of audio: processing" in timing and "round trip" in timing
        # both players hold audio the browser decoded, of the upload's length
        durations = driver.execute_async_script("""
            const done = arguments[arguments.length - 1];
            const ids = ["noisy", "denoised"];
            Promise.all(ids.map((id) => new Promise((ok) => {
              const a = document.getElementById(id);
              if (a.readyState >= 1) ok(a.duration); else a.onloadedmetadata = () => ok(a.duration);
            }))).then(done);""")
        assert durations == pytest.approx([20_000 / 16000] * 2, abs=0.01)
        # both spectrograms are drawn, from the whole signal, and are not one flat colour
        for canvas in ("spec-noisy", "spec-denoised"):
            WebDriverWait(driver, 30).until(lambda d, c=canvas: d.find_element(By.ID, c).get_attribute("data-drawn"))
            spread = driver.execute_script(f"""
                const c = document.getElementById("{canvas}");
                const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
                let lo = 255, hi = 0;
                for (let i = 0; i < px.length; i += 4) {{ lo = Math.min(lo, px[i]); hi = Math.max(hi, px[i]); }}
                return hi - lo;""")
            assert spread > 100, canvas
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "gateway_page.png"))
    finally:
        driver.quit()
