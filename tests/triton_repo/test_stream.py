"""A causal export's streaming model on a real tritonserver: sequence batching, one state per stream, frames equal
to the step model in-process; bad requests answered alone while the other streams go on."""

import json
import time

import numpy as np
import pytest

from tests.test_cli import invoke
from wux.clients.streaming import AsyncTritonStreamer, TritonStreamer
from wux.data.audio import read_audio
from wux.errors import WuxError
from wux.export.step import StreamingRecord, load_step
from wux.metrics import si_snr_db
from wux.model.streaming import stream_through

IDLE_S = 3.0  # the repository's stream idle timeout: short for the idle test, past a busy machine's stalls


@pytest.fixture(scope="module")
def stream_served(causal_exported, tmp_path_factory):
    from wux.triton_repo.config import ServingOptions
    from wux.triton_repo.generate import RepoRequest, generate_repository
    from wux.triton_repo.server import TritonServer

    folder = causal_exported[0]
    repo = tmp_path_factory.mktemp("stream") / "repo"
    generate_repository(folder, repo, RepoRequest(formats=("python",), options=ServingOptions(stream_idle_s=IDLE_S)))
    server = TritonServer(repo)
    info = server.start()
    record = StreamingRecord.from_dict(json.loads((folder / "manifest.json").read_text())["streaming"])
    yield info, folder, record, repo
    assert server.stop() == 0


def here(folder, record, wave, frame):
    return stream_through(load_step(folder, record, "onnx"), wave, frame, record.state_size)


def speech(n, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    return (0.3 * np.sin(2 * np.pi * 200 * t) * (1 + np.sin(2 * np.pi * 2 * t)) + 0.05 * rng.standard_normal(n)
            ).astype(np.float32)


@pytest.mark.server
def test_a_served_stream_equals_the_step_model_in_process(stream_served):
    info, folder, record, _ = stream_served
    assert "waveunet_stream" in info.ready_models and "waveunet_stream_onnx" in info.skipped_models
    wave = speech(32_000 + 77)
    with TritonStreamer(info.grpc_url) as streamer:
        served = streamer.stream(wave, record.frame)
        assert streamer.ended and streamer.sent == -(-len(wave) // record.frame)
    assert si_snr_db(served, here(folder, record, wave, record.frame)) >= 60


@pytest.mark.server
def test_two_interleaved_streams_keep_their_own_state(stream_served):
    info, folder, record, _ = stream_served
    a, b, frame = speech(16_000, 1), speech(16_000, 2), 160
    out_a, out_b = [], []
    with TritonStreamer(info.grpc_url) as sa, TritonStreamer(info.grpc_url) as sb:
        for i in range(0, 16_000, frame):  # frame by frame, alternating: the server sees them interleaved
            last = i + frame >= 16_000
            out_a.append(sa.push(a[i: i + frame], last=last))
            out_b.append(sb.push(b[i: i + frame], last=last))
    assert si_snr_db(np.concatenate(out_a), here(folder, record, a, frame)) >= 60
    assert si_snr_db(np.concatenate(out_b), here(folder, record, b, frame)) >= 60


@pytest.mark.server
def test_the_asyncio_streamer(stream_served):
    import asyncio

    info, folder, record, _ = stream_served
    wave = speech(8_000, 3)

    async def run():
        async with AsyncTritonStreamer(info.grpc_url) as s:
            frames = [wave[i: i + 320] for i in range(0, 8_000, 320)]
            return np.concatenate([await s.push(f, last=k == len(frames) - 1) for k, f in enumerate(frames)])

    assert si_snr_db(asyncio.run(run()), here(folder, record, wave, 320)) >= 60


@pytest.mark.server
def test_bad_requests_are_clear_errors_and_the_server_keeps_serving(stream_served):
    import tritonclient.grpc as grpcclient

    info, folder, record, _ = stream_served
    raw = grpcclient.InferenceServerClient(info.grpc_url)

    def send(frame, sequence_id, start=False, end=False):
        inp = grpcclient.InferInput("frame", [1, 1, len(frame)], "FP32")
        inp.set_data_from_numpy(np.asarray(frame, dtype=np.float32).reshape(1, 1, -1))
        return raw.infer("waveunet_stream", [inp], sequence_id=sequence_id, sequence_start=start, sequence_end=end)

    from tritonclient.utils import InferenceServerException

    live = TritonStreamer(info.grpc_url)  # a healthy stream that must survive everything below
    live.push(speech(320))
    with pytest.raises(InferenceServerException, match="multiples of 8 samples"):
        send(np.zeros(100), 901, start=True)  # a frame off the grid, refused by the server itself
    with pytest.raises(InferenceServerException, match="START flag"):
        send(np.zeros(320), 902)  # a sequence that never started
    send(np.zeros(320), 903, start=True)
    with pytest.raises(InferenceServerException, match="already streaming"):
        send(np.zeros(320), 903, start=True)  # a correlation id reused while live
    send(np.zeros(320), 903, end=True)
    # the client says the same before sending
    with pytest.raises(WuxError, match="multiples of 8 samples"):
        TritonStreamer(info.grpc_url).push(np.zeros(100))
    # the healthy stream went on, its state untouched by the others
    second = live.push(speech(320)[::-1].copy(), last=True)
    expected = here(folder, record, np.concatenate([speech(320), speech(320)[::-1]]), 320)[320:]
    assert np.abs(second - expected).max() < 1e-5
    raw.close()
    live.close()


@pytest.mark.server
@pytest.mark.slow
def test_a_stream_idle_past_the_timeout_is_dropped(stream_served):
    info, *_ = stream_served
    with TritonStreamer(info.grpc_url) as s:
        s.push(np.zeros(320))
        time.sleep(3 * IDLE_S + 1)  # far past the timeout: Triton frees the slot, the model drops the state
        with pytest.raises(WuxError, match="START flag|no stream"):
            s.push(np.zeros(320))


def test_a_server_that_is_gone_breaks_the_stream_loudly():
    from wux.triton_repo.server import free_port

    with pytest.raises(WuxError, match="cannot stream"):
        TritonStreamer(f"127.0.0.1:{free_port()}", timeout_s=2)


@pytest.mark.server
def test_wux_denoise_stream_through_triton_equals_in_process(stream_served, causal_exported, wav_file, tmp_path):
    info, folder, *_ = stream_served
    ckpt = causal_exported[1]
    for args, name in ((("--url", info.grpc_url), "served"), (("--export", folder), "export"),
                       (("--checkpoint", ckpt), "local")):
        result = invoke("denoise", wav_file, "-o", tmp_path / f"{name}.wav", "--stream", "--frame-ms", "20", *args)
        assert result.exit_code == 0, result.output
    local = read_audio(tmp_path / "local.wav")
    for name in ("served", "export"):
        assert np.abs(read_audio(tmp_path / f"{name}.wav") - local).max() < 2 / 32768, name


def test_the_native_backend_config_uses_implicit_state(causal_exported, tmp_path):
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    from wux.triton_repo.generate import RepoRequest, generate_repository

    generate_repository(causal_exported[0], tmp_path / "repo", RepoRequest(formats=("python",)))
    config = text_format.Parse((tmp_path / "repo" / "waveunet_stream_onnx" / "config.pbtxt").read_text(),
                               model_config_pb2.ModelConfig())
    (state,) = config.sequence_batching.state
    assert (state.input_name, state.output_name) == ("state", "next_state")
    assert state.initial_state[0].zero_data and list(state.dims) == list(state.initial_state[0].dims)
    assert config.platform == "onnxruntime_onnx" and config.sequence_batching.max_sequence_idle_microseconds > 0
    python = text_format.Parse((tmp_path / "repo" / "waveunet_stream" / "config.pbtxt").read_text(),
                               model_config_pb2.ModelConfig())
    kinds = {c.name for c in python.sequence_batching.control_input}
    assert kinds == {"START", "END", "READY", "CORRID"} and python.sequence_batching.oldest.max_candidate_sequences


def test_the_native_backend_config_tells_clients_what_the_python_one_does(causal_exported, tmp_path):
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    from wux.clients.streaming import stream_info
    from wux.triton_repo.generate import RepoRequest, generate_repository

    generate_repository(causal_exported[0], tmp_path / "repo", RepoRequest(formats=("python",)))
    infos = {}
    for name in ("waveunet_stream", "waveunet_stream_onnx"):
        text = (tmp_path / "repo" / name / "config.pbtxt").read_text()
        infos[name] = stream_info(text_format.Parse(text, model_config_pb2.ModelConfig()), "m")
    assert infos["waveunet_stream_onnx"] == infos["waveunet_stream"]


def test_a_step_model_changed_since_export_is_not_served(causal_exported, tmp_path):
    import json
    import shutil

    from wux.errors import WuxError
    from wux.triton_repo.generate import RepoRequest, generate_repository

    copy = tmp_path / "export"
    shutil.copytree(causal_exported[0], copy)
    steps = json.loads((copy / "manifest.json").read_text())["streaming"]["artifacts"]
    step = next(a["file"] for a in steps if a["format"] == "onnx")  # the one the repository copies
    with open(copy / step, "ab") as f:
        f.write(b"\0")
    with pytest.raises(WuxError, match="sha256 differs from the manifest; export again"):
        generate_repository(copy, tmp_path / "repo", RepoRequest(formats=("python",)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]




@pytest.mark.server
def test_perf_streams_counts_every_frame_and_writes_csv_and_plot(stream_served, tmp_path):
    info, *_ = stream_served
    result = invoke("perf", "-u", info.grpc_url, "--streams", "1,3", "--frame-ms", "20", "--stream-seconds", "1",
                    "-f", tmp_path / "streams.csv", "--plot", tmp_path / "streams.png", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["model"] == "waveunet_stream" and report["frame_samples"] == 320
    assert report["algorithmic_latency_ms"] == 20.0
    for level, n in zip(report["levels"], (1, 3)):
        # counts, not timings: every frame of every stream sent and answered; lateness is the machine's to judge
        assert level["streams"] == n and level["frames"] == n * 50 == level["answered"] and level["errors"] == 0
        assert 0 <= level["misses"] <= level["frames"] and level["budget_ms"] == 20.0
    ok_levels = [lv["streams"] for lv in report["levels"] if lv["misses"] == 0]
    assert report["most_streams_without_misses"] == (max(ok_levels) if ok_levels else 0)
    assert (tmp_path / "streams.csv").read_text().splitlines()[0].startswith("streams,frames,answered,errors,misses")
    assert (tmp_path / "streams.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.server
def test_perf_streams_needs_a_frame_on_the_grid_and_one_server(stream_served):
    info, *_ = stream_served
    result = invoke("perf", "-u", info.grpc_url, "--streams", "1", "--frame-ms", "0.25", "--stream-seconds", "1")
    assert result.exit_code == 2 and "multiples of 8 samples" in result.output
    result = invoke("perf", "-u", info.grpc_url, "-u", info.grpc_url, "--streams", "1")
    assert result.exit_code == 2 and "one --url" in result.output


@pytest.mark.server
@pytest.mark.slow
def test_a_server_that_dies_mid_stream_is_a_broken_stream_not_a_gap(stream_served):
    import os
    import signal

    from wux.clients.streaming import StreamBroken
    from wux.triton_repo.server import TritonServer

    *_, repo = stream_served
    server = TritonServer(repo)
    info = server.start()
    try:
        streamer = TritonStreamer(info.grpc_url, timeout_s=5)
        streamer.push(np.zeros(320, dtype=np.float32))
        os.kill(info.pid, signal.SIGKILL)
        with pytest.raises(StreamBroken, match="broke after 1 frame"):
            streamer.push(np.zeros(320, dtype=np.float32))
        streamer.close()
        assert server.shared_memory_regions()  # the killed server's stubs left their regions behind
    finally:
        server.stop()
    assert server.shared_memory_regions() == []  # and stopping it removed them
