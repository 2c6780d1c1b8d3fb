"""The generated config.pbtxt of every backend, byte for byte against reviewed files (tests/triton_repo/golden/),
and the Dockerfile / run line against what NVIDIA's container and the python backend document.

WUX_UPDATE_GOLDEN=1 rewrites the golden files from the current code; review the diff before committing it."""

import json
import os
import shutil
from pathlib import Path

import pytest

from wux.fsutil import sha256_file
from wux.triton_repo.config import ServingOptions, validate
from wux.triton_repo.container import DEFAULT_RELEASE, RELEASES, container_for
from wux.triton_repo.generate import RepoRequest, generate_repository

GOLDEN = Path(__file__).parent / "golden"
MODELS = ("waveunet", "waveunet_python", "waveunet_onnx", "waveunet_torchscript", "waveunet_trt")


def with_plan(exported, tmp_path, tensorrt="10.5.0.18") -> Path:
    """The session export plus a TensorRT plan entry (a placeholder file: plans are built on a GPU only)."""
    folder = tmp_path / "build"
    shutil.copytree(exported[0], folder)
    (folder / "model.plan").write_bytes(b"placeholder plan")
    manifest = json.loads((folder / "manifest.json").read_text())
    onnx = next(a for a in manifest["artifacts"] if a["file"] == "model.onnx")
    manifest["artifacts"].append({**onnx, "format": "trt", "file": "model.plan", "sha256": sha256_file(
        folder / "model.plan"), "bytes": 16, "opset": None, "details": {
            "tensorrt": tensorrt, "gpu": "NVIDIA H100", "compute_capability": "9.0", "version_compatible": False}})
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


@pytest.fixture(scope="module")
def repo(exported, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("golden")
    options = ServingOptions(max_batch=3, instances=2, preferred_batch=(2, 3), queue_delay_us=100, threads=1,
                             max_queue_size=16, queue_timeout_us=200_000)
    generate_repository(with_plan(exported, tmp), tmp / "repo", RepoRequest(options=options))
    return tmp / "repo"


@pytest.mark.parametrize("model", MODELS)
def test_config_matches_its_golden_file(repo, model):
    text = (repo / model / "config.pbtxt").read_text()
    golden = GOLDEN / f"{model}.pbtxt"
    if os.environ.get("WUX_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()
    validate(text, model)  # and Triton's own schema takes it


def test_the_golden_files_say_what_they_should(repo):
    """What a reviewer checks in the golden files, so a careless update cannot slip through."""
    onnx = validate((GOLDEN / "waveunet_onnx.pbtxt").read_text(), "onnx")
    assert onnx.platform == "onnxruntime_onnx" and onnx.parameters["intra_op_thread_count"].string_value == "1"
    python = validate((GOLDEN / "waveunet_python.pbtxt").read_text(), "python")
    assert python.backend == "python" and python.parameters["ort_intra_op_threads"].string_value == "1"
    assert python.parameters["ort_spinning"].string_value == "0"  # wux.ort_settings: spinning off by default
    for config in (onnx, python):
        policy = config.dynamic_batching.default_queue_policy
        assert (policy.max_queue_size, policy.default_timeout_microseconds) == (16, 200_000)
        assert list(config.input[0].dims) == [1, 2048] and config.max_batch_size == 3
    trt = validate((GOLDEN / "waveunet_trt.pbtxt").read_text(), "trt")
    assert trt.platform == "tensorrt_plan" and trt.instance_group[0].kind == trt.instance_group[0].KIND_GPU
    ts = validate((GOLDEN / "waveunet_torchscript.pbtxt").read_text(), "ts")
    assert (ts.input[0].name, ts.output[0].name) == ("INPUT__0", "OUTPUT__0")
    front = validate((GOLDEN / "waveunet.pbtxt").read_text(), "front")
    assert front.max_batch_size == 0 and front.parameters["core_model"].string_value == "waveunet_python"


def test_dockerfile_and_run_line_follow_the_containers_documented_needs(repo):
    dockerfile = (repo / "Dockerfile").read_text()
    # the plan was built with TensorRT 10.5: the one release that ships it (24.10, Triton 2.51.0)
    assert "FROM nvcr.io/nvidia/tritonserver:24.10-py3" in dockerfile
    assert "numpy==1.26.4" in dockerfile and "onnxruntime-gpu==" in dockerfile  # the stub: numpy < 2
    assert "COPY . /models" in dockerfile and 'CMD ["tritonserver", "--model-repository=/models"]' in dockerfile
    readme = (repo / "README.md").read_text()
    run = next(line for line in readme.splitlines() if line.startswith("docker build"))
    # python_backend README: --shm-size (Docker's 64 MB default is too small), memlock unlimited, 64 MB stack
    for flag in ("--shm-size=1g", "--ulimit memlock=-1", "--ulimit stack=67108864", "--gpus all",
                 "-p 8000:8000", "-p 8001:8001", "-p 8002:8002"):
        assert flag in run


def test_the_release_follows_the_plans_tensorrt():
    assert container_for(set(), gpu=False).release == DEFAULT_RELEASE and "--gpus" not in container_for(
        set(), gpu=False).run
    for release in RELEASES:
        assert container_for({release.tensorrt + ".0.1"}, gpu=True).release == release
    unknown = container_for({"11.2.0"}, gpu=True)
    assert unknown.note and "TensorRT 11.2" in unknown.note  # said, not silently mismatched
