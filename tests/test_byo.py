"""Bring your own model, end to end through the CLI: export + parity gate, Triton repository, a real
tritonserver, `wux denoise --url` against in-process denoising, and `wux perf --validate`.

The models are people's own code, never wux's: DEMUCS from the real `denoiser` package (causal and not;
`make test` installs it), the article's Wave-U-Net trained by a plain user script, and a model in a
stand-alone .py file outside any package.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tests.conftest import speechlike
from tests.test_cli import invoke
from wux.metrics import si_snr_db

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
RATE = 16000


def demucs(causal: bool):
    def make(tmp: Path) -> list[str]:
        pytest.importorskip("denoiser", reason="pip install --no-deps denoiser==0.1.5 (make install does)")
        from denoiser.demucs import Demucs

        torch.manual_seed(0)
        torch.save(Demucs(hidden=48, causal=causal).state_dict(), tmp / "demucs.pt")
        kwargs = json.dumps({"hidden": 48, "causal": causal})
        return ["--model", "denoiser.demucs:Demucs", "--model-kwargs", kwargs, "--weights", tmp / "demucs.pt"]

    return make


def article(tmp: Path) -> list[str]:
    """The user trains it with their own script (300 steps), then hands wux the checkpoint it wrote."""
    run = subprocess.run([sys.executable, "train.py", "--steps", "300", "--out", str(tmp / "article.pt")],
                         cwd=EXAMPLES / "article_waveunet", capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    before, after = torch.load(tmp / "article.pt", weights_only=True)["held_out_si_snr_db"]
    assert after > before + 3  # it learned something: the chain carries a trained model, not noise
    return ["--model", f"{EXAMPLES / 'article_waveunet' / 'model.py'}:ArticleWaveUNet", "--weights",
            tmp / "article.pt"]


def standalone(tmp: Path) -> list[str]:
    script = tmp / "elsewhere" / "my_denoiser.py"
    script.parent.mkdir()
    shutil.copy(EXAMPLES / "standalone" / "tcn_denoiser.py", script)
    sys.path.insert(0, str(script.parent))
    try:
        import my_denoiser
    finally:
        sys.path.remove(str(script.parent))
        sys.modules.pop("my_denoiser", None)
    torch.manual_seed(0)
    torch.save({"state_dict": my_denoiser.build(channels=8).state_dict()}, tmp / "tcn.pt")
    return ["--model", f"{script}:build", "--model-kwargs", '{"channels": 8}', "--weights", tmp / "tcn.pt"]


MODELS = {"demucs_causal": demucs(True), "demucs": demucs(False), "article": article, "standalone": standalone}


def ten_seconds(path: Path) -> Path:
    rng = np.random.default_rng(10)
    clean = speechlike(rng, 10 * RATE)
    sf.write(path, clean + 0.02 * rng.standard_normal(len(clean)), RATE, subtype="FLOAT")
    return path


def ok(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.parametrize("name", MODELS)
def test_a_users_model_through_the_whole_chain(name, tmp_path):
    from wux.triton_repo.server import TritonServer

    model = [*MODELS[name](tmp_path), "--sample-rate", str(RATE)]
    build, repo = tmp_path / "build", tmp_path / "repo"
    exported = ok(invoke("export", *model, "--to", "torchscript", "--to", "onnx", "--out", build, "--json"))
    verdicts = exported["verification"]["artifacts"]
    assert [v["artifact"] for v in verdicts] == ["torchscript-fp32", "onnx-fp32"]
    assert all(v["passed"] and v["worst_max_abs_err"] <= 1e-4 for v in verdicts)
    assert ok(invoke("verify", build, "--json"))["passed"]  # again, from the folder alone: the manifest says how
    bench = ok(invoke("bench", build, "--batch", "1", "--seconds", "0.05", "--json"))
    assert {r["runner"] for r in bench["rows"]} == {"pytorch-eager", "torchscript-fp32", "onnx-fp32"}

    ok(invoke("triton", build, "--repo", repo, "--name", name, "--formats", "python", "--json"))
    noisy = ten_seconds(tmp_path / "noisy.wav")
    local = ok(invoke("denoise", noisy, "-o", tmp_path / "local.wav", *model, "--json"))
    assert local["files"][0]["samples"] == 10 * RATE
    with TritonServer(repo) as info:
        ok(invoke("denoise", noisy, "-o", tmp_path / "served.wav", "--url", info.grpc_url, "-m", name, "--json"))
        perf = ok(invoke("perf", "--url", info.grpc_url, "-m", name, "--concurrency-range", "1",
                         "--lengths", "12000:0.5,40000:0.5", "--measurement-interval", "1500", "--max-trials",
                         "3", "--stability-percentage", "50", "--validate", "--validate-share", "1", *model,
                         "--json"))
    served, _ = sf.read(tmp_path / "served.wav", dtype="float32")
    here, _ = sf.read(tmp_path / "local.wav", dtype="float32")
    assert served.shape == here.shape == (10 * RATE,)
    assert si_snr_db(served, here) >= 60  # both are 16-bit files: quantisation is the only difference left
    level = perf["levels"][0]
    assert level["validated"] > 0 and level["validation_failures"] == 0 and level["errors"] == 0
