"""`wux perf`: perf_analyzer-style load on a Triton model, in audio terms, with response validation.

Concurrency mode: N asyncio workers on one gRPC aio client keep N requests in flight. Each
level runs measurement windows until the last three agree (stability rule) or max_trials;
the reported numbers merge the last three windows. The server-side breakdown comes from
deltas of Triton's statistics API over the same windows.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from wux.clients.balance import Balancer
from wux.clients.triton import is_unavailable
from wux.contract import AudioContract, CoreRef, parameters_of
from wux.data.audio import list_audio_files, read_audio
from wux.denoise import export_denoiser, model_denoiser
from wux.errors import WuxError, first_line
from wux.model.load import ModelSource, load_model
from wux.perf.stability import STABILITY_WINDOW, is_stable, latency_percentiles_ms, percentile
from wux.tools import require
from wux.triton_repo.config import PRECISION_PARAMETER
from wux.verify.compare import compare
from wux.verify.signals import make_signal
from wux.verify.tolerance import Tolerance

POOL = 6  # distinct input signals per length
MAX_INFLIGHT = 1024  # request-rate mode: beyond this the server is hopelessly behind; stop adding
DECK = 20  # lengths are dealt from shuffled decks of this size: shares hold in every short window


def length_deck(lengths: tuple[tuple[int, float], ...]) -> list[int]:
    """DECK slots split by share (largest remainder), so each deck sends the requested mix exactly."""
    shares = np.array([s for _, s in lengths], dtype=np.float64)
    exact = shares / shares.sum() * DECK
    counts = np.floor(exact).astype(int)
    for i in np.argsort(counts - exact)[: DECK - counts.sum()]:
        counts[i] += 1
    return [n for (n, _), c in zip(lengths, counts) for _ in range(c)]


@dataclass(frozen=True)
class PerfConfig:
    url: str
    model: str
    replicas: tuple[str, ...] = ()  # more servers of the same repository: requests go to the least busy
    protocol: str = "grpc"  # grpc | http
    concurrency: tuple[int, ...] = (1,)
    request_rates: tuple[float, ...] = ()  # when set: open-loop arrivals at these rates instead of concurrency
    distribution: str = "constant"  # constant | poisson inter-arrival times (request-rate mode)
    lengths: tuple[tuple[int, float], ...] = ()  # (samples, share); empty: the model's chunk
    measurement_interval_ms: int = 5000
    stability_percentage: float = 10.0
    max_trials: int = 10
    percentile: int | None = None  # stabilise on this latency percentile instead of the average
    validate_share: float = 0.0
    validate_export: Path | None = None  # reference: this export's FP32 ONNX in onnxruntime...
    validate_source: ModelSource | None = None  # ...or else this model (None: bundled) in PyTorch
    validate_tolerance: Tolerance = Tolerance(max_abs=1e-3, min_si_snr_db=60.0)
    input_data: Path | None = None
    timeout_s: float = 30.0
    seed: int = 0


@dataclass
class LevelResult:
    concurrency: int  # requests in flight (concurrency mode); 0 in request-rate mode
    stable: bool
    trials: int
    requests: int
    errors: int
    throughput_infer_per_s: float
    throughput_audio_s_per_s: float
    latency_avg_ms: float
    latency_p50_ms: float
    latency_p90_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    client_send_ms: float
    client_recv_ms: float
    server_queue_ms: float
    server_compute_input_ms: float
    server_compute_infer_ms: float
    server_compute_output_ms: float
    client_cpu_percent: float
    sent_lengths: dict[int, int] = field(default_factory=dict)
    validated: int = 0
    validation_failures: int = 0
    validation_worst_si_snr_db: float | None = None
    request_rate: float | None = None  # requested arrivals per second (request-rate mode)
    note: str | None = None
    retried: int = 0  # requests sent again to another replica after theirs went away (they count once)


@dataclass
class PerfReport:
    url: str
    model: str
    levels: list[LevelResult]
    error: str | None = None  # why the run ended early (levels finished so far are kept)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Target:
    """What to send: the served model's audio contract, and whether it is a core model ([1, 1, chunk])."""

    contract: AudioContract
    input_name: str
    output_name: str
    core_shape: bool
    precision: str = "fp32"  # of the artifact the server runs (wux-generated models say; others: fp32)


def describe_model(config: dict, metadata: dict, model: str) -> Target:
    params = parameters_of(config)
    contract = AudioContract.from_params(params, f"model {model!r}")
    inp, out = metadata["inputs"][0], metadata["outputs"][0]
    return Target(contract, inp["name"], out["name"], core_shape=CoreRef.from_params(params) is None,
                  precision=params.get(PRECISION_PARAMETER, "fp32"))


def make_pool(target: Target, lengths: tuple[tuple[int, float], ...], input_data: Path | None, seed: int):
    sources = []
    if input_data is not None:
        # any rate and channel count: load is made of the model's mono audio (perf has no --resample / --downmix)
        sources = [read_audio(p, target.contract.sample_rate, downmix=True, resample=True)
                   for p in list_audio_files([Path(input_data)])]
        if not sources:
            raise WuxError("no audio files found", input_data)
    pool = {}
    for n, _ in lengths:
        if target.core_shape and n != target.contract.chunk:
            raise WuxError(f"the core model takes exactly {target.contract.chunk} samples; "
                           f"--lengths {n} cannot be sent")
        if sources:
            pool[n] = [np.resize(sources[i % len(sources)], n).astype(np.float32) for i in range(POOL)]
        else:
            pool[n] = list(make_signal("speech", POOL, n, seed))
    return pool


def references(pool, target: Target, export: Path | None, source: ModelSource | None):
    """In-process outputs for every pooled input: the export's artifact of the served precision in
    onnxruntime, else the model in PyTorch, both with the served model's windows (a core model's input is
    one window, unchanged). A served FP16 or INT8 model is only comparable with its own artifact."""
    if export is not None:
        denoise = export_denoiser(export, precision=target.precision)
    elif target.precision != "fp32":
        raise WuxError(f"the served model runs a {target.precision} artifact, which only its own file "
                       "reproduces: validate with --export DIR (the export it was generated from)")
    else:
        model = load_model(source, contract=target.contract)
        denoise = model_denoiser(model)
    return {n: [denoise(x) for x in xs] for n, xs in pool.items()}


def server_times(stats: dict) -> dict[str, float]:
    s = stats["model_stats"][0]
    inf = s.get("inference_stats", {})

    def ns(key):
        return float(inf.get(key, {}).get("ns", 0))

    return {"count": float(inf.get("success", {}).get("count", 0)), "queue": ns("queue"),
            "compute_input": ns("compute_input"), "compute_infer": ns("compute_infer"),
            "compute_output": ns("compute_output")}


class Endpoint:
    """One asyncio Triton client, gRPC or HTTP, with the few calls the load generator makes."""

    def __init__(self, url: str, protocol: str):
        self.protocol = protocol
        self.lib = require(f"tritonclient.{protocol}.aio")
        self.client = (self.lib.InferenceServerClient(url) if protocol == "grpc"
                       else self.lib.InferenceServerClient(url, conn_limit=MAX_INFLIGHT))

    def grpc_json(self) -> dict:
        return {"as_json": True} if self.protocol == "grpc" else {}

    async def live(self) -> bool:
        return bool(await self.client.is_server_live())

    async def config(self, model: str) -> dict:
        config = await self.client.get_model_config(model, **self.grpc_json())
        return config["config"] if self.protocol == "grpc" else config

    async def metadata(self, model: str) -> dict:
        return await self.client.get_model_metadata(model, **self.grpc_json())

    async def stats(self, model: str) -> dict:
        return await self.client.get_inference_statistics(model, **self.grpc_json())

    async def server_times(self, model: str) -> dict[str, float]:
        return server_times(await self.stats(model))

    def input(self, name: str, array: np.ndarray):
        inp = self.lib.InferInput(name, list(array.shape), "FP32")
        inp.set_data_from_numpy(array)
        return inp

    async def infer(self, model: str, inp, timeout_s: float):
        if self.protocol == "grpc":
            return await self.client.infer(model, [inp], client_timeout=timeout_s)
        return await asyncio.wait_for(self.client.infer(model, [inp]), timeout_s)  # HTTP: no client timeout

    async def close(self) -> None:
        await self.client.close()


class Fleet:
    """Several servers of one repository behind the Endpoint calls the load generator makes: each request goes
    where wux.clients.balance sends it; one whose server went away is sent again to another (counted in
    `retried`); server statistics are summed (a server that died keeps its last counts)."""

    def __init__(self, urls: list[str], protocol: str, cooldown_s: float = 2.0):
        self.endpoints = {u: Endpoint(u, protocol) for u in dict.fromkeys(urls)}
        self.balancer = Balancer(list(self.endpoints), cooldown_s)
        self.last_times: dict[str, dict[str, float]] = {}
        self.first = next(iter(self.endpoints.values()))

    @property
    def retried(self) -> int:
        return self.balancer.failovers

    async def live(self) -> bool:
        lives = await asyncio.gather(*(e.live() for e in self.endpoints.values()), return_exceptions=True)
        return any(v is True for v in lives)

    async def config(self, model: str) -> dict:
        return await self.first.config(model)

    async def metadata(self, model: str) -> dict:
        return await self.first.metadata(model)

    async def server_times(self, model: str) -> dict[str, float]:
        for url, e in self.endpoints.items():
            try:
                self.last_times[url] = await e.server_times(model)
            except Exception:  # noqa: BLE001 - a server that is gone keeps its last counts
                continue
        totals: dict[str, float] = {}
        for times in self.last_times.values():
            for k, v in times.items():
                totals[k] = totals.get(k, 0.0) + v
        return totals

    def input(self, name: str, array: np.ndarray):
        return self.first.input(name, array)

    async def infer(self, model: str, inp, timeout_s: float):
        tried: set[str] = set()
        while True:
            url = self.balancer.acquire(tried)
            if url is None:
                raise WuxError(f"no server answered (tried {', '.join(tried)})")
            tried.add(url)
            answered = False
            try:
                out = await self.endpoints[url].infer(model, inp, timeout_s)
                answered = True
                return out
            except Exception as e:  # noqa: BLE001 - a server that went away: the next one's turn
                last = len(tried) == len(self.endpoints)
                if not is_unavailable(e) or last:
                    raise
                self.balancer.failed(url, first_line(e), retrying=True)
            finally:
                self.balancer.release(url, answered)

    async def close(self) -> None:
        await asyncio.gather(*(e.close() for e in self.endpoints.values()), return_exceptions=True)


async def run_level(client: Endpoint | Fleet, cfg: PerfConfig, target: Target, concurrency: int, pool, refs,
                    rate: float | None = None) -> LevelResult:
    records: list[tuple[float, float, int, bool, float, float]] = []  # end, latency, n, ok, send, recv
    validation: list[tuple[float | None, bool]] = []  # (SI-SNR dB, failed)
    stop = asyncio.Event()
    deck = length_deck(cfg.lengths)

    async def send(rng, n: int, k: int) -> None:
        x = pool[n][k]
        t0 = time.perf_counter()
        inp = client.input(target.input_name, x[None, None] if target.core_shape else x)
        t1 = time.perf_counter()
        try:
            result = await client.infer(cfg.model, inp, cfg.timeout_s)
        except Exception:  # noqa: BLE001 - every failure is counted, the run goes on
            records.append((time.perf_counter(), time.perf_counter() - t0, n, False, 0.0, 0.0))
            await asyncio.sleep(0.05)
            return
        t2 = time.perf_counter()
        out = result.as_numpy(target.output_name).reshape(-1)
        t3 = time.perf_counter()
        records.append((t3, t3 - t0, n, True, t1 - t0, t3 - t2))
        if refs is not None and rng.random() < cfg.validate_share:
            verdict = compare(out[None], refs[n][k].reshape(1, -1), cfg.validate_tolerance)
            validation.append((verdict.stats.si_snr_db if verdict.stats else None, not verdict.passed))

    def dealer(rng):
        """Lengths from shuffled decks (the requested mix in every window), inputs round-robin."""
        sent = 0
        while True:
            for n in rng.permutation(deck):
                yield int(n), sent % POOL
                sent += 1

    async def worker(i: int) -> None:  # closed loop: one request in flight per worker
        rng = np.random.default_rng((cfg.seed, concurrency, i))
        deal = dealer(rng)
        while not stop.is_set():
            await send(rng, *next(deal))

    async def arrivals(rate: float) -> None:  # open loop: requests start on schedule, whatever is in flight
        rng = np.random.default_rng((cfg.seed, int(rate * 1000)))
        deal = dealer(rng)
        inflight: set[asyncio.Task] = set()
        next_t = time.perf_counter()
        gaps = arrival_gaps(rate, cfg.distribution, rng)
        while not stop.is_set():
            next_t += next(gaps)
            await asyncio.sleep(max(0.0, next_t - time.perf_counter()))
            if len(inflight) < MAX_INFLIGHT:
                task = asyncio.create_task(send(rng, *next(deal)))
                inflight.add(task)
                task.add_done_callback(inflight.discard)
        await asyncio.gather(*inflight, return_exceptions=True)

    async def server_stats():
        return await client.server_times(cfg.model)

    retried_before = getattr(client, "retried", 0)
    if rate:
        tasks = [asyncio.create_task(arrivals(rate))]
    else:
        tasks = [asyncio.create_task(worker(i)) for i in range(concurrency)]
    windows, throughputs, lats = [], [], []
    try:
        await asyncio.sleep(0.2)  # warm-up, not measured
        for _ in range(cfg.max_trials):
            s0, t0, cpu0 = await server_stats(), time.perf_counter(), cpu_seconds()
            await asyncio.sleep(cfg.measurement_interval_ms / 1000)
            s1, t1, cpu1 = await server_stats(), time.perf_counter(), cpu_seconds()
            window = [r for r in records if t0 <= r[0] < t1]
            ok = [r for r in window if r[3]]
            if window and not ok:
                raise WuxError(f"every request failed during the last window at concurrency {concurrency}")
            windows.append((window, {k: s1[k] - s0[k] for k in s1}, t1 - t0, cpu1 - cpu0))
            throughputs.append(len(ok) / (t1 - t0))
            lats.append(stabilising_latency([r[1] for r in ok], cfg.percentile))
            if is_stable(throughputs, lats, cfg.stability_percentage):
                break
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    stable = is_stable(throughputs, lats, cfg.stability_percentage)
    note = None
    if not stable and rate and is_stable(throughputs, lats, cfg.stability_percentage, check_latency=False):
        # perf_analyzer's rule for open-loop load: a steady throughput counts; the latency is said to drift
        stable, note = True, "request latency is not stabilizing; try a lower request rate"
    level = merge_windows(concurrency, windows[-STABILITY_WINDOW:], len(windows), stable, target, validation)
    level.request_rate, level.note = rate, note
    level.retried = getattr(client, "retried", 0) - retried_before
    return level


def arrival_gaps(rate: float, distribution: str, rng: np.random.Generator):
    """Seconds between request-rate arrivals: all 1/rate (constant), or exponential with mean 1/rate (poisson)."""
    while True:
        yield float(rng.exponential(1 / rate)) if distribution == "poisson" else 1 / rate


def stabilising_latency(latencies_s: list[float], percentile_: int | None) -> float:
    """The average latency, or the --percentile one, in ms (what stability is judged on); inf with none."""
    if not latencies_s:
        return float("inf")
    ms = np.sort(np.asarray(latencies_s)) * 1e3
    return percentile(ms, percentile_) if percentile_ else float(ms.mean())


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def merge_windows(concurrency, windows, trials, stable, target: Target, validation) -> LevelResult:
    records = [r for w in windows for r in w[0]]
    ok = [r for r in records if r[3]]
    seconds = sum(w[2] for w in windows)
    server = {k: sum(w[1][k] for w in windows) for k in windows[0][1]}
    count = max(server["count"], 1.0)
    pct = latency_percentiles_ms([r[1] for r in ok])
    sent: dict[int, int] = {}
    for r in ok:
        sent[r[2]] = sent.get(r[2], 0) + 1
    audio = target.contract.seconds(sum(r[2] for r in ok))
    snrs = [v[0] for v in validation if v[0] is not None]
    return LevelResult(
        concurrency=concurrency, stable=stable, trials=trials, requests=len(ok),
        errors=len(records) - len(ok), throughput_infer_per_s=len(ok) / seconds,
        throughput_audio_s_per_s=audio / seconds, latency_avg_ms=pct["avg"], latency_p50_ms=pct["p50"],
        latency_p90_ms=pct["p90"], latency_p95_ms=pct["p95"], latency_p99_ms=pct["p99"],
        client_send_ms=1e3 * float(np.mean([r[4] for r in ok])) if ok else 0.0,
        client_recv_ms=1e3 * float(np.mean([r[5] for r in ok])) if ok else 0.0,
        server_queue_ms=server["queue"] / count / 1e6, server_compute_input_ms=server["compute_input"] / count / 1e6,
        server_compute_infer_ms=server["compute_infer"] / count / 1e6,
        server_compute_output_ms=server["compute_output"] / count / 1e6,
        client_cpu_percent=100 * sum(w[3] for w in windows) / seconds, sent_lengths=sent,
        validated=len(validation), validation_failures=sum(1 for v in validation if v[1]),
        validation_worst_si_snr_db=min(snrs) if snrs else None,
    )


async def run_perf_async(cfg: PerfConfig, show_progress: bool = True,
                         stop_after: Callable[[LevelResult], bool] | None = None) -> PerfReport:
    """Every level in order; `stop_after(level)` true ends the sweep early (no higher level can do better)."""
    client = Fleet([cfg.url, *cfg.replicas], cfg.protocol) if cfg.replicas else Endpoint(cfg.url, cfg.protocol)
    report = PerfReport(", ".join([cfg.url, *cfg.replicas]), cfg.model, [])
    try:
        try:
            if not await client.live():
                raise WuxError(f"Triton server at {cfg.url} is not live")
            config = await client.config(cfg.model)
            metadata = await client.metadata(cfg.model)
        except WuxError:
            raise
        except Exception as e:  # noqa: BLE001 - connection and lookup failures become one line
            raise WuxError(f"cannot use model {cfg.model!r} at {cfg.url}: {first_line(e)}") from None
        target = describe_model(config, metadata, cfg.model)
        lengths = cfg.lengths or ((target.contract.chunk, 1.0),)
        cfg = PerfConfig(**{**cfg.__dict__, "lengths": tuple(lengths)})
        pool = make_pool(target, cfg.lengths, cfg.input_data, cfg.seed)
        refs = None
        if cfg.validate_share > 0:
            refs = references(pool, target, cfg.validate_export, cfg.validate_source)
        plan = [(0, r) for r in cfg.request_rates] if cfg.request_rates else [(c, None) for c in cfg.concurrency]
        for c, rate in plan:
            try:
                report.levels.append(await run_level(client, cfg, target, c, pool, refs, rate))
                if show_progress:
                    say_level(report.levels[-1])
                if stop_after is not None and stop_after(report.levels[-1]):
                    break
            except WuxError as e:
                report.error = str(e)
                break
            except Exception as e:  # noqa: BLE001 - the server went away mid-level: keep what finished
                where = f"request rate {rate}/s" if rate else f"concurrency {c}"
                report.error = f"server failed at {where}: {first_line(e)}"
                break
    finally:
        await client.close()
    return report


def say_level(lv: LevelResult) -> None:
    """One progress line per finished level on stderr: a sweep can take minutes."""
    import sys

    level = f"rate {lv.request_rate:g}/s" if lv.request_rate else f"concurrency {lv.concurrency}"
    print(f"{level}: {lv.throughput_infer_per_s:.1f} infer/s, p50 {lv.latency_p50_ms:.1f} ms, "
          f"{'stable' if lv.stable else f'UNSTABLE after {lv.trials} windows'}", file=sys.stderr, flush=True)


def run_perf(cfg: PerfConfig, show_progress: bool = True,
             stop_after: Callable[[LevelResult], bool] | None = None) -> PerfReport:
    return asyncio.run(run_perf_async(cfg, show_progress, stop_after))
