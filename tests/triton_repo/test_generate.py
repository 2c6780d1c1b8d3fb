import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from wux.errors import WuxError
from wux.triton_repo.config import ModelSpec, ServingOptions, render, validate
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


def test_front_model_calls_the_core_with_the_manifest_windows(repo, exported):
    from wux.export.manifest import read_manifest

    front = parse(repo / "waveunet" / "config.pbtxt")
    assert front.max_batch_size == 0 and list(front.input[0].dims) == [-1]
    p = {k: v.string_value for k, v in front.parameters.items()}
    w = read_manifest(exported[0]).windowing
    assert p["core_model"] == "waveunet_python"
    assert [int(p[k]) for k in ("window", "context", "crossfade", "align")] == \
        [w["window"], w["context"], w["crossfade"], w["align"]]
    assert (repo / "waveunet" / "1" / "windowing.py").read_text() == \
        __import__("wux.windowing").windowing.__loader__.get_source("wux.windowing")
    readme = (repo / "README.md").read_text()
    assert "docker run" in readme and "tritonserver --model-repository" in readme


def test_ort_trt_block_and_kind_validate(exported, tmp_path):
    out = tmp_path / "r"
    generate_repository(exported[0], out, RepoRequest(formats=("onnx", "python"), options=ServingOptions(
        max_batch=2, kind="gpu", ort_trt=True)))
    onnx = parse(out / "waveunet_onnx" / "config.pbtxt")
    acc = onnx.optimization.execution_accelerators.gpu_execution_accelerator[0]
    assert acc.name == "tensorrt" and acc.parameters["precision_mode"] == "FP16"
    assert onnx.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU


def test_trt_plan_config(tmp_path):
    spec = ModelSpec(name="m_trt", platform="tensorrt_plan", default_filename="model.plan", input_name="waveform",
                     output_name="denoised", dims=[1, 16384], max_batch=8, kind="KIND_GPU")
    cfg = validate(render(spec), "m")
    assert cfg.platform == "tensorrt_plan" and cfg.default_model_filename == "model.plan"


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
    assert list(tmp_path.iterdir()) == []


def test_existing_repo_refused(repo, exported):
    with pytest.raises(WuxError, match="already exists"):
        generate_repository(exported[0], repo)


def test_triton_cli(exported, tmp_path):
    import json

    from tests.test_cli import assert_one_line_error, invoke

    result = invoke("triton", exported[0], "--repo", tmp_path / "r", "--formats", "onnx,python", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert [m["name"] for m in payload["models"]] == ["waveunet_onnx", "waveunet_python", "waveunet"]
    assert_one_line_error(invoke("triton", exported[0], "--repo", tmp_path / "r"), "already exists")
    assert_one_line_error(invoke("triton", exported[0], "--repo", tmp_path / "k", "--kind", "tpu"), "--kind")
    assert_one_line_error(invoke("triton", tmp_path / "nothing", "--repo", tmp_path / "z"), "export folder not found")
