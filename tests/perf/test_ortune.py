"""`wux bench --tune`: onnxruntime settings searched on this machine, recorded in the manifest, then used by
in-process denoising and by the Triton models generated from the folder.

Nothing here asserts which setting wins (that is this machine's business, and it drifts): only that the
search's record is consistent with its own rule and that every reader uses what it recorded.
"""

import shutil
from types import SimpleNamespace

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from wux.export.manifest import read_manifest
from wux.ort_settings import OrtOptions
from wux.perf import ortune
from wux.triton_repo.config import ORT_BACKEND_GRAPH_LEVELS, ServingOptions
from wux.triton_repo.generate import RepoRequest, generate_repository


def tuned_copy(exported, tmp_path):
    folder = tmp_path / "build"
    shutil.copytree(exported[0], folder)
    return folder, ortune.tune_folder(folder, block_s=0.02)


def test_tuning_records_its_search_and_keeps_only_what_beat_the_margin(exported, tmp_path):
    folder, tuned = tuned_copy(exported, tmp_path)
    assert [t.artifact for t in tuned] == ["onnx-fp32", "onnx-fp16"]
    for result in tuned:
        art = read_manifest(folder).artifact("onnx", result.artifact.split("-")[1])
        assert art.session == result.session and art.batch == result.batch
        trials = art.runtime["trials"]
        labels = [t["setting"] for t in trials]
        assert any("intra-op" in s for s in labels) and "spinning" in labels
        assert any(s.startswith("graph optimisation") for s in labels) and any(s.startswith("batch") for s in labels)
        assert all(t["kept"] == (t["ratio"] > 1 + ortune.MARGIN) for t in trials)
        assert all(t["batch"] <= art.limits.batch_max for t in trials)
        kept = [t for t in trials if t["kept"] and t["setting"] != ortune.CONFIRM]
        confirm = [t for t in trials if t["setting"] == ortune.CONFIRM]
        assert len(confirm) == (1 if kept else 0) and (not confirm or trials[-1] == confirm[0])  # last, if any
        assert result.defaults_kept == (bool(confirm) and not confirm[0]["kept"])
        if result.defaults_kept:  # what the steps kept did not beat the defaults when run together
            assert (result.session, result.batch, result.gain) == (OrtOptions(), 1, 1.0)
            continue
        # the recorded session is the last kept session change (or the defaults when none was kept)
        sessions = [t["options"] for t in kept if not t["setting"].startswith("batch")]
        assert result.session == (OrtOptions.from_dict(sessions[-1]) if sessions else OrtOptions())
        assert result.batch == max([t["batch"] for t in kept if t["setting"].startswith("batch")], default=1)
        if kept:
            assert (confirm[0]["options"], confirm[0]["batch"]) == (result.session.to_dict(), result.batch)


class FixedMeter(ortune.Meter):
    """Timing is this machine's business: the rule is checked on ratios given outright."""

    def __init__(self, ratio: float):
        self.art, self.given = SimpleNamespace(key="onnx-fp32"), ratio

    def ratio(self, candidate, incumbent):
        return self.given, 1000.0


def test_changes_kept_step_by_step_that_lose_to_the_defaults_together_are_dropped():
    found = OrtOptions(graph_optimization="extended")
    slower = ortune.confirmed(FixedMeter(0.88), found, 2, [])
    assert (slower.session, slower.batch, slower.gain, slower.defaults_kept) == (OrtOptions(), 1, 1.0, True)
    assert [(t.setting, t.ratio, t.kept) for t in slower.trials] == [(ortune.CONFIRM, 0.88, False)]
    faster = ortune.confirmed(FixedMeter(1.3), found, 2, [])
    assert (faster.session, faster.batch, faster.defaults_kept) == (found, 2, False)
    assert faster.gain == pytest.approx(1.3) and faster.trials[-1].kept
    nothing = ortune.confirmed(FixedMeter(1.0), OrtOptions(), 1, [])
    assert (nothing.trials, nothing.defaults_kept, nothing.gain) == ([], False, 1.0)


def test_the_triton_models_and_the_in_process_denoiser_use_the_tuned_settings(exported, tmp_path):
    folder = tmp_path / "build"
    shutil.copytree(exported[0], folder)
    manifest = read_manifest(folder)
    tuned = OrtOptions(intra_op_threads=1, inter_op_threads=2, execution_mode="parallel",
                       graph_optimization="extended", spinning=True)
    manifest.artifact("onnx", "fp32").runtime = {"session": tuned.to_dict(), "batch": 2}
    manifest.write(folder)
    generate_repository(folder, tmp_path / "repo", RepoRequest(formats=("onnx", "python")))

    def config(model):
        text = (tmp_path / "repo" / model / "config.pbtxt").read_text()
        return text_format.Parse(text, model_config_pb2.ModelConfig())

    python = config("waveunet_python")
    assert OrtOptions.from_params({k: v.string_value for k, v in python.parameters.items()}) == tuned
    onnx = config("waveunet_onnx")
    params = {k: v.string_value for k, v in onnx.parameters.items()}
    assert (params["intra_op_thread_count"], params["inter_op_thread_count"], params["execution_mode"]) == (
        "1", "2", "1")
    assert onnx.optimization.graph.level == ORT_BACKEND_GRAPH_LEVELS["extended"] == 1
    # --threads overrides the tuned thread count only
    generate_repository(folder, tmp_path / "repo2", RepoRequest(formats=("python",), options=ServingOptions(threads=2)))
    text = (tmp_path / "repo2" / "waveunet_python" / "config.pbtxt").read_text()
    params = {k: v.string_value for k, v in text_format.Parse(text, model_config_pb2.ModelConfig()).parameters.items()}
    assert OrtOptions.from_params(params) == OrtOptions(**{**tuned.to_dict(), "intra_op_threads": 2})
