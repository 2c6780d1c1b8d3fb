"""Stream audio through a wux streaming model on Triton: push frames, receive frames (gRPC, sync or asyncio).

One TritonStreamer is one stream (one correlation id): the first frame starts the sequence, `push(..., last=True)`
ends it. The server keeps the stream's state between frames, so a frame lost on the way is a gap in the audio:
a dropped connection or a server restart is raised as a StreamBroken error, never retried or skipped silently.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from wux.clients.triton import is_unavailable
from wux.contract import STEP_DENOISED as DENOISED
from wux.contract import STEP_FRAME as FRAME
from wux.contract import AudioContract, StreamParams, parameters_of
from wux.errors import WuxError, first_line
from wux.tools import require


class StreamBroken(WuxError):
    """The stream cannot go on: the server went away or lost it; its state is gone with it."""


@dataclass(frozen=True)
class StreamInfo:
    model: str
    contract: AudioContract
    frame_multiple: int
    default_frame: int
    idle_s: float

    def check_frame(self, n: int) -> None:
        if n <= 0 or n % self.frame_multiple:
            raise WuxError(f"a frame of {n} samples: {self.model} takes multiples of {self.frame_multiple} samples "
                           f"({1000 * self.frame_multiple / self.contract.sample_rate:g} ms)")


def stream_info(config: dict, model: str) -> StreamInfo:
    params = parameters_of(config)
    stream = StreamParams.from_params(params)
    if stream is None:
        raise WuxError(f"model {model!r} is not a wux streaming model (generate one from a causal export)")
    return StreamInfo(model, AudioContract.from_params(params, f"model {model!r}"),
                      stream.frame_multiple, stream.frame, stream.idle_s)


def new_sequence_id() -> int:
    return random.SystemRandom().randrange(1, 2**63)


def frame_input(lib, frame: np.ndarray):
    frame = np.ascontiguousarray(frame, dtype=np.float32).reshape(1, 1, -1)
    inp = lib.InferInput(FRAME, list(frame.shape), "FP32")
    inp.set_data_from_numpy(frame)
    return inp


def explain(e: Exception, url: str, model: str, sent: int) -> WuxError:
    if is_unavailable(e) or "deadline" in str(e).lower():
        return StreamBroken(f"the stream to {model} at {url} broke after {sent} frame(s): {first_line(e)}; its state "
                            "is lost with the connection, start a new stream")
    return WuxError(f"{model} at {url} refused frame {sent + 1}: {first_line(e)}")


class TritonStreamer:
    def __init__(self, url: str, model: str = "waveunet_stream", sequence_id: int | None = None,
                 timeout_s: float = 10.0):
        self.lib = require("tritonclient.grpc")
        self.url, self.model, self.timeout_s = url, model, timeout_s
        self.client = self.lib.InferenceServerClient(url)
        try:
            config = self.client.get_model_config(model, as_json=True, client_timeout=timeout_s)["config"]
        except Exception as e:  # noqa: BLE001 - down, or no such model: one line either way
            self.client.close()
            raise WuxError(f"cannot stream to {model!r} at {url}: {first_line(e)}") from None
        self.info = stream_info(config, model)
        self.sequence_id = sequence_id or new_sequence_id()
        self.sent, self.ended = 0, False

    def push(self, frame: np.ndarray, last: bool = False) -> np.ndarray:
        """One frame in (a multiple of the frame grid), the same frame denoised out."""
        if self.ended:
            raise WuxError("this stream has ended; open a new TritonStreamer")
        self.info.check_frame(np.asarray(frame).size)
        try:
            result = self.client.infer(self.model, [frame_input(self.lib, frame)], sequence_id=self.sequence_id,
                                       sequence_start=self.sent == 0, sequence_end=last,
                                       outputs=[self.lib.InferRequestedOutput(DENOISED)], client_timeout=self.timeout_s)
        except Exception as e:  # noqa: BLE001
            raise explain(e, self.url, self.model, self.sent) from None
        self.sent += 1
        self.ended = last
        return result.as_numpy(DENOISED).reshape(-1)

    def stream(self, wave: np.ndarray, frame: int | None = None) -> np.ndarray:
        """A whole waveform, frame by frame (the last one zero-padded and ending the stream)."""
        frame = frame or self.info.default_frame
        self.info.check_frame(frame)
        n = len(wave)
        padded = np.zeros(-(-n // frame) * frame, dtype=np.float32)
        padded[:n] = wave
        starts = range(0, len(padded), frame)
        out = [self.push(padded[s: s + frame], last=s == starts[-1]) for s in starts]
        return np.concatenate(out)[:n]

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> TritonStreamer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class AsyncTritonStreamer:
    """The asyncio twin: `await open()`, then `await push(frame)`."""

    def __init__(self, url: str, model: str = "waveunet_stream", sequence_id: int | None = None,
                 timeout_s: float = 10.0):
        self.lib = require("tritonclient.grpc.aio")
        self.url, self.model, self.timeout_s = url, model, timeout_s
        self.client = self.lib.InferenceServerClient(url)
        self.sequence_id = sequence_id or new_sequence_id()
        self.sent, self.ended, self.info = 0, False, None

    async def open(self) -> AsyncTritonStreamer:
        try:
            config = (await self.client.get_model_config(self.model, as_json=True))["config"]
        except Exception as e:  # noqa: BLE001
            await self.client.close()
            raise WuxError(f"cannot stream to {self.model!r} at {self.url}: {first_line(e)}") from None
        self.info = stream_info(config, self.model)
        return self

    async def push(self, frame: np.ndarray, last: bool = False) -> np.ndarray:
        if self.ended:
            raise WuxError("this stream has ended; open a new AsyncTritonStreamer")
        self.info.check_frame(np.asarray(frame).size)
        try:
            result = await self.client.infer(self.model, [frame_input(self.lib, frame)], sequence_id=self.sequence_id,
                                             sequence_start=self.sent == 0, sequence_end=last,
                                             outputs=[self.lib.InferRequestedOutput(DENOISED)],
                                             client_timeout=self.timeout_s)
        except Exception as e:  # noqa: BLE001
            raise explain(e, self.url, self.model, self.sent) from None
        self.sent += 1
        self.ended = last
        return result.as_numpy(DENOISED).reshape(-1)

    def next_stream(self) -> AsyncTritonStreamer:
        """The same connection, a new stream (a new correlation id, starting from a zero state)."""
        self.sequence_id, self.sent, self.ended = new_sequence_id(), 0, False
        return self

    async def close(self) -> None:
        await self.client.close()

    async def __aenter__(self) -> AsyncTritonStreamer:
        return await self.open()

    async def __aexit__(self, *exc) -> None:
        await self.close()
