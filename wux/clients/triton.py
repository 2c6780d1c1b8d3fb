"""TritonDenoiser: denoise waveforms through a Triton server, over HTTP or gRPC.

Two modes: "server" sends the whole waveform to the front model, which windows it; "client"
windows here (wux.windowing, the same code the front model runs) and sends the windows
concurrently to the core model, so the server's dynamic batcher can group them.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from dataclasses import dataclass

import numpy as np

from wux import windowing
from wux.contract import AudioContract, CoreRef, parameters_of
from wux.errors import WuxError, first_line
from wux.tools import require

PROTOCOLS = ("grpc", "http")
MODES = ("server", "client")


@dataclass(frozen=True)
class FrontInfo:
    """What a wux front model's config tells a client: the audio contract and the core model it calls."""

    contract: AudioContract
    core: CoreRef


def client_module(protocol: str, aio: bool = False):
    if protocol not in PROTOCOLS:
        raise WuxError(f"unknown protocol {protocol!r}; choose grpc or http")
    return require(f"tritonclient.{protocol}{'.aio' if aio else ''}")


def is_unavailable(e: Exception) -> bool:
    text = str(e).lower()
    return any(s in text for s in ("unavailable", "connection refused", "failed to connect", "connect call failed",
                                   "broken pipe", "connection reset", "socket closed", "stream removed",
                                   "connection aborted", "server disconnected"))


class TritonDenoiser:
    def __init__(self, url: str, model: str = "waveunet", protocol: str = "grpc", mode: str = "server",
                 timeout_s: float = 30.0, retries: int = 3, backoff_s: float = 0.2, concurrency: int = 8,
                 shared_memory: bool = False):
        if mode not in MODES:
            raise WuxError(f"unknown mode {mode!r}; choose server or client")
        self.url, self.model, self.protocol, self.mode = url, model, protocol, mode
        self.shared_memory = shared_memory  # system shared memory: client and server on one host
        self.timeout_s, self.retries, self.backoff_s, self.concurrency = timeout_s, retries, backoff_s, concurrency
        self.lib = client_module(protocol)
        kwargs = {"concurrency": concurrency, "connection_timeout": timeout_s, "network_timeout": timeout_s} \
            if protocol == "http" else {}
        self.client = self.lib.InferenceServerClient(url, **kwargs)
        self.regions = RegionPool(self)
        self.info = self.connect()

    # -- connection and metadata

    def call(self, fn, *args, **kwargs):
        """Run a client call, retrying with exponential backoff while the server is UNAVAILABLE."""
        from tritonclient.utils import InferenceServerException

        for attempt in range(self.retries + 1):
            try:
                return fn(*args, **kwargs)
            except (InferenceServerException, ConnectionError, OSError) as e:
                if attempt == self.retries or not is_unavailable(e):
                    raise
                time.sleep(self.backoff_s * 2**attempt)

    def connect(self) -> FrontInfo:
        from tritonclient.utils import InferenceServerException

        try:
            live = self.call(self.client.is_server_live)
        except (InferenceServerException, ConnectionError, OSError) as e:
            raise WuxError(f"Triton server at {self.url} ({self.protocol}) is not reachable: "
                           f"{first_line(e)}") from None
        if not live:
            raise WuxError(f"Triton server at {self.url} is not live")
        try:
            ready = self.client.is_model_ready(self.model)
        except InferenceServerException:
            ready = False
        if not ready:
            models = [m["name"] if isinstance(m, dict) else m.name for m in self.repository_index()]
            raise WuxError(f"model {self.model!r} is not ready on {self.url}; the server has: {', '.join(models)}")
        return self.front_info()

    def repository_index(self):
        index = self.client.get_model_repository_index()
        return index if isinstance(index, list) else list(index.models)

    def front_info(self) -> FrontInfo:
        config = self.client.get_model_config(self.model)
        params = parameters_of(config.config if self.protocol == "grpc" else config)
        core = CoreRef.from_params(params)
        if core is None:
            raise WuxError(f"model {self.model!r} is not a wux front model (its config names no core model)")
        return FrontInfo(AudioContract.from_params(params, f"model {self.model!r}"), core)

    def close(self) -> None:
        try:
            self.regions.release()
        finally:
            self.client.close()

    def __enter__(self) -> TritonDenoiser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- inference

    def infer(self, model: str, name: str, output: str, array: np.ndarray) -> np.ndarray:
        if self.shared_memory:
            return self.infer_shm(model, name, output, array)
        inp = fp32_input(self.lib, name, array)
        outputs = [self.lib.InferRequestedOutput(output)]
        kwargs = {"client_timeout": self.timeout_s} if self.protocol == "grpc" else {}
        result = self.call(self.client.infer, model, [inp], outputs=outputs, **kwargs)
        return result.as_numpy(output)

    def infer_shm(self, model: str, name: str, output: str, array: np.ndarray) -> np.ndarray:
        """Input and output through system shared memory (outputs have the input's shape here), in a pair of
        regions registered once and reused by later requests."""
        shm = require("tritonclient.utils.shared_memory")
        array = np.ascontiguousarray(array, dtype=np.float32)
        pair = self.regions.take(array.nbytes)
        try:
            shm.set_shared_memory_region(pair.input.handle, [array])
            inp = self.lib.InferInput(name, list(array.shape), "FP32")
            inp.set_shared_memory(pair.input.name, array.nbytes)
            out = self.lib.InferRequestedOutput(output)
            out.set_shared_memory(pair.output.name, array.nbytes)
            self.call(self.client.infer, model, [inp], outputs=[out])
            return shm.get_contents_as_numpy(pair.output.handle, np.float32, list(array.shape)).copy()
        finally:
            self.regions.give_back(pair)

    def denoise(self, wave: np.ndarray) -> np.ndarray:
        """Mono float32 waveform in, same length out."""
        wave = check_wave(wave)
        contract, core = self.info.contract, self.info.core
        if self.mode == "server":
            return self.infer(self.model, contract.input_name, contract.output_name, wave).reshape(-1)
        windows, starts = windowing.split(wave, contract.window, fixed=True)
        from concurrent.futures import ThreadPoolExecutor

        def one(w):
            return self.infer(core.model, core.input_name, core.output_name, w[None, None, :]).reshape(-1)

        if self.protocol == "http":  # the HTTP client is gevent-based: no threads, its own concurrency
            outputs = [one(w) for w in windows]
        else:
            with ThreadPoolExecutor(self.concurrency) as pool:
                outputs = list(pool.map(one, windows))
        return windowing.overlap_add(np.stack(outputs), starts, contract.window, len(wave))

    async def denoise_async(self, wave: np.ndarray) -> np.ndarray:
        """asyncio version of denoise(); windows (client mode) are sent concurrently."""
        wave = check_wave(wave)
        lib = client_module(self.protocol, aio=True)
        client = lib.InferenceServerClient(self.url)
        try:
            async def infer(model, name, output, array):
                inp = fp32_input(lib, name, array)
                result = await client.infer(model, [inp], outputs=[lib.InferRequestedOutput(output)])
                return result.as_numpy(output).reshape(-1)

            contract, core = self.info.contract, self.info.core
            if self.mode == "server":
                return await infer(self.model, contract.input_name, contract.output_name, wave)
            windows, starts = windowing.split(wave, contract.window, fixed=True)
            outputs = await asyncio.gather(*(infer(core.model, core.input_name, core.output_name, w[None, None, :])
                                             for w in windows))
            return windowing.overlap_add(np.stack(outputs), starts, contract.window, len(wave))
        finally:
            await client.close()


def fp32_input(lib, name: str, array: np.ndarray):
    """A binary FP32 InferInput holding `array` (either protocol, sync or aio)."""
    inp = lib.InferInput(name, list(array.shape), "FP32")
    inp.set_data_from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    return inp


def check_wave(wave: np.ndarray) -> np.ndarray:
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 1:
        raise WuxError(f"expected a mono waveform (1-D), got shape {wave.shape}")
    if wave.size == 0 or not np.all(np.isfinite(wave)):
        raise WuxError("waveform is empty or has NaN/Inf samples")
    return wave


@dataclass(frozen=True)
class Region:
    name: str
    handle: object
    size: int


@dataclass(frozen=True)
class RegionPair:
    input: Region
    output: Region

    @property
    def size(self) -> int:
        return self.input.size


class RegionPool:
    """System shared-memory regions registered with the server once and reused, one pair per request in flight.

    Sizes round up to a power of two, so a run of files of different lengths reuses a handful of pairs."""

    def __init__(self, owner: TritonDenoiser):
        self.owner = owner
        self.free: list[RegionPair] = []
        self.all: list[RegionPair] = []
        self.lock = threading.Lock()

    def take(self, nbytes: int) -> RegionPair:
        with self.lock:
            fitting = [p for p in self.free if p.size >= nbytes]
            if fitting:
                pair = min(fitting, key=lambda p: p.size)
                self.free.remove(pair)
                return pair
        pair = RegionPair(self.create(1 << max(nbytes - 1, 1).bit_length()),
                          self.create(1 << max(nbytes - 1, 1).bit_length()))
        with self.lock:
            self.all.append(pair)
        return pair

    def create(self, size: int) -> Region:
        shm = require("tritonclient.utils.shared_memory")
        name = f"wux_{uuid.uuid4().hex[:16]}"
        handle = shm.create_shared_memory_region(name, f"/{name}", size)
        try:
            self.owner.call(self.owner.client.register_system_shared_memory, name, f"/{name}", size)
        except BaseException:
            shm.destroy_shared_memory_region(handle)
            raise
        return Region(name, handle, size)

    def give_back(self, pair: RegionPair) -> None:
        with self.lock:
            self.free.append(pair)

    def release(self) -> None:
        """Unregister and destroy every region (at close)."""
        shm = require("tritonclient.utils.shared_memory")
        with self.lock:
            regions = [r for p in self.all for r in (p.input, p.output)]
            self.all, self.free = [], []
        for region in regions:
            try:
                self.unregister_when_released(region.name)
            finally:
                shm.destroy_shared_memory_region(region.handle)

    def unregister_when_released(self, name: str, wait_s: float = 2.0) -> None:
        """Triton 2.51 refuses to unregister a region "currently in use" for a moment after the response
        (it releases the request asynchronously; later servers defer the unregister, server#7743)."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                return self.owner.client.unregister_system_shared_memory(name)
            except Exception as e:  # noqa: BLE001 - only the in-use refusal is retried
                if "currently in use" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
