import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from wux.contract import AudioContract, CoreRef, parameters_of
from wux.errors import WuxError
from wux.triton_repo.config import ModelSpec, ServingOptions, model_config, render, validate
from wux.triton_repo.generate import RepoRequest, generate_repository


def parse(path):
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


@pytest.fixture(scope="module")
def repo(exported, tmp_path_factory):
    out = tmp_path_factory.mktemp("repo") / "repo"
    generate_repository(exported[0], out, RepoRequest(options=ServingOptions(max_batch=3, instances=2,
                                                                            preferred_batch=(2, 3))))
    return out


def test_every_model_has_a_valid_config_and_its_files(repo):
    names = sorted(p.name for p in repo.iterdir() if p.is_dir())
    assert names == ["waveunet", "waveunet_onnx", "waveunet_python", "waveunet_torchscript"]
    onnx = parse(repo / "waveunet_onnx" / "config.pbtxt")
    assert onnx.platform == "onnxruntime_onnx" and onnx.default_model_filename == "model.onnx"
    assert (repo / "waveunet_onnx" / "1" / "model.onnx").is_file()
    ts = parse(repo / "waveunet_torchscript" / "config.pbtxt")
    assert ts.platform == "pytorch_libtorch"
    assert (ts.input[0].name, ts.output[0].name) == ("INPUT__0", "OUTPUT__0")
    assert (repo / "waveunet_torchscript" / "1" / "model.pt").is_file()
    py = parse(repo / "waveunet_python" / "config.pbtxt")
    assert py.backend == "python" and (repo / "waveunet_python" / "1" / "model.py").is_file()
    for cfg in (onnx, ts, py):
        assert list(cfg.input[0].dims) == [1, 2048] == list(cfg.output[0].dims)  # the manifest's chunk
        assert cfg.input[0].data_type == model_config_pb2.TYPE_FP32
        assert cfg.max_batch_size == 3 and cfg.instance_group[0].count == 2
        assert list(cfg.dynamic_batching.preferred_batch_size) == [2, 3]
        assert cfg.model_warmup[0].inputs["waveform" if cfg.backend == "python" or "onnx" in cfg.platform
                                          else "INPUT__0"].input_data_file == "speech.raw"
    raw = (repo / "waveunet_python" / "warmup" / "speech.raw").read_bytes()
    assert len(raw) == 2048 * 4 and raw != bytes(len(raw))  # real audio, not zeros


def test_front_model_calls_the_core_with_the_manifest_contract(repo, exported):
    import wux.contract
    import wux.windowing
    from wux.export.manifest import read_manifest

    front = parse(repo / "waveunet" / "config.pbtxt")
    assert front.max_batch_size == 0 and list(front.input[0].dims) == [-1]
    contract = read_manifest(exported[0]).contract
    params = parameters_of(front)
    assert AudioContract.from_params(params) == contract  # the whole contract, read back by its one decoder
    assert CoreRef.from_params(params) == CoreRef("waveunet_python", "waveform", "denoised")
    for name in ("waveunet_python", "waveunet_onnx", "waveunet_torchscript"):  # every model carries it
        assert AudioContract.from_params(parameters_of(parse(repo / name / "config.pbtxt"))) == contract
    for model in ("waveunet", "waveunet_python"):  # the python models import wux's own modules, copied beside
        for module in (wux.contract, wux.windowing):
            copied = repo / model / "1" / "wux" / f"{module.__name__.split('.')[-1]}.py"
            assert copied.read_text() == module.__loader__.get_source(module.__name__)
    readme = (repo / "README.md").read_text()
    assert "docker run" in readme and "--model-repository=/models" in (repo / "Dockerfile").read_text()


def test_ort_trt_block_and_kind_validate(exported, tmp_path):
    out = tmp_path / "r"
    generate_repository(exported[0], out, RepoRequest(formats=("onnx", "python"), options=ServingOptions(
        max_batch=2, kind="gpu", ort_trt=True)))
    onnx = parse(out / "waveunet_onnx" / "config.pbtxt")
    acc = onnx.optimization.execution_accelerators.gpu_execution_accelerator[0]
    assert acc.name == "tensorrt" and acc.parameters["precision_mode"] == "FP16"
    assert onnx.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU


def test_parameter_values_are_escaped_by_protobuf():
    spec = ModelSpec(name="m", backend="python", input_name="waveform", output_name="denoised", dims=[1, 64],
                     max_batch=2, parameters={"note": 'a "quoted" value\nwith a newline'})
    assert parameters_of(validate(render(model_config(spec)), "m"))["note"] == 'a "quoted" value\nwith a newline'


def test_a_tensorrt_plan_in_the_repository(exported, tmp_path):
    """A plan can only be built on a GPU; the repository step reads the manifest, not the plan, so a manifest
    listing one (its file a placeholder here) shows what `wux triton` makes of it."""
    import json
    import shutil

    from wux.fsutil import sha256_file
    from wux.tools import find_tritonserver
    from wux.triton_repo.server import available_backends, backend_dir, loadable_models

    folder = tmp_path / "build"
    shutil.copytree(exported[0], folder)
    (folder / "model.plan").write_bytes(b"placeholder plan")
    manifest = json.loads((folder / "manifest.json").read_text())
    onnx = next(a for a in manifest["artifacts"] if a["file"] == "model.onnx")
    manifest["artifacts"].append({**onnx, "format": "trt", "file": "model.plan", "sha256": sha256_file(
        folder / "model.plan"), "bytes": 16, "opset": None, "details": {
            "tensorrt": "10.13", "gpu": "NVIDIA H100", "compute_capability": "9.0", "version_compatible": False}})
    (folder / "manifest.json").write_text(json.dumps(manifest))
    generate_repository(folder, tmp_path / "repo", RepoRequest(formats=("trt", "python")))
    cfg = parse(tmp_path / "repo" / "waveunet_trt" / "config.pbtxt")
    assert cfg.platform == "tensorrt_plan" and cfg.default_model_filename == "model.plan"
    assert cfg.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
    assert (tmp_path / "repo" / "waveunet_trt" / "1" / "model.plan").read_bytes() == b"placeholder plan"
    readme = (tmp_path / "repo" / "README.md").read_text()
    assert "TensorRT 10.13 on NVIDIA H100 (compute capability 9.0)" in readme
    server = find_tritonserver()
    if server is not None:  # this server has no TensorRT backend: the plan is reported, not loaded
        ok, skipped = loadable_models(tmp_path / "repo", available_backends(backend_dir(server)))
        assert "waveunet_trt" not in ok and "tensorrt" in skipped["waveunet_trt"]


def test_schema_rejects_unknown_fields():
    with pytest.raises(WuxError, match="schema"):
        validate('name: "x" backend: "python" max_batchsize: 3\n', "x/config.pbtxt")


def test_bad_requests_write_nothing(exported, tmp_path):
    with pytest.raises(WuxError, match="no trt artifact"):
        generate_repository(exported[0], tmp_path / "a", RepoRequest(formats=("trt",)))
    with pytest.raises(WuxError, match="exceeds the artifacts' max batch"):
        generate_repository(exported[0], tmp_path / "b", RepoRequest(options=ServingOptions(max_batch=64)))
    with pytest.raises(WuxError, match="core 'onnx' is not among"):
        generate_repository(exported[0], tmp_path / "c", RepoRequest(formats=("python",), core="onnx"))
    with pytest.raises(WuxError, match="preferred batch cannot exceed the max batch 3"):
        generate_repository(exported[0], tmp_path / "d", RepoRequest(options=ServingOptions(preferred_batch=(16,))))
    for name in ("bad name/x", "", ".hidden"):
        with pytest.raises(WuxError, match="a Triton model name is"):
            RepoRequest(name=name)
    assert list(tmp_path.iterdir()) == []


def test_an_artifact_changed_since_export_is_not_served(exported, tmp_path):
    import shutil

    copy = tmp_path / "export"
    shutil.copytree(exported[0], copy)
    with open(copy / "model.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(WuxError, match="model.onnx: sha256 differs from the manifest; export again"):
        generate_repository(copy, tmp_path / "r")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]


def test_a_deployment_folder_that_cannot_be_written_fails_before_the_repository(exported, tmp_path):
    from tests.test_cli import assert_one_line_error, invoke

    result = invoke("triton", exported[0], "--repo", tmp_path / "r", "--deploy", "k8s", "--deploy-dir", "/proc/k")
    assert_one_line_error(result, "/proc/k", "cannot write here")
    (tmp_path / "r-k8s").mkdir()
    assert_one_line_error(invoke("triton", exported[0], "--repo", tmp_path / "r", "--deploy", "k8s"),
                          "r-k8s", "already exists")
    assert_one_line_error(invoke("triton", exported[0], "--repo", tmp_path / "r", "--deploy-dir", tmp_path / "k"),
                          "--deploy-dir does not apply without --deploy")
    assert [p.name for p in tmp_path.iterdir()] == ["r-k8s"]


def test_existing_repo_refused(repo, exported):
    with pytest.raises(WuxError, match="already exists"):
        generate_repository(exported[0], repo)


def test_triton_cli(exported, tmp_path):
    import json

    from tests.test_cli import assert_one_line_error, invoke

    result = invoke("triton", exported[0], "--repo", tmp_path / "r", "--formats", "onnx,python", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert [m["name"] for m in payload["models"]] == ["waveunet_onnx", "waveunet_python", "waveunet"]
    assert_one_line_error(invoke("triton", exported[0], "--repo", tmp_path / "r"), "already exists")
    assert_one_line_error(invoke("triton", exported[0], "--repo", tmp_path / "k", "--kind", "tpu"), "--kind")
    assert_one_line_error(invoke("triton", tmp_path / "nothing", "--repo", tmp_path / "z"), "export folder not found")
