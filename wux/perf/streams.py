"""`wux perf --streams N,...`: live streams as a user feels them, at real-time pace, against a streaming model.

Each stream captures one frame per frame period and sends it when captured (at its scheduled time, so a client
that falls behind counts against itself too), then waits for it to come back before sending the next (a
stream's frames are processed in order, its state carried between them). A frame must be back within one
frame period of being sent to be played in time: its playout time is the frame period (capture) plus the
algorithmic latency (one more frame period for a causal model, which needs no look-ahead) after its first
sample was heard. Later than that is a deadline miss. Streams start spread over one period, like callers who
do not all dial at the same millisecond. Every level runs its streams for --stream-seconds of audio each;
the largest level with no miss is the answer. Before the first level, two streams run for half a second,
not counted (a fresh server's first frames pay one-time set-up), and every stream's client is connected and
warmed with one frame of a throwaway stream before its level starts.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from wux.clients.streaming import AsyncTritonStreamer
from wux.errors import WuxError, first_line
from wux.perf.stability import latency_percentiles_ms
from wux.verify.signals import make_signal

WARMUP_STREAMS, WARMUP_SECONDS = 2, 0.5  # before the first level, not reported


@dataclass(frozen=True)
class StreamsConfig:
    url: str
    model: str = "waveunet_stream"
    streams: tuple[int, ...] = (1, 4, 8, 16)
    frame_ms: float = 20.0
    seconds: float = 10.0  # of audio per stream, per level
    seed: int = 0


@dataclass
class StreamLevel:
    streams: int
    frames: int  # sent
    answered: int
    errors: int
    misses: int  # answered after their playout time, or not at all
    latency_p50_ms: float
    latency_p90_ms: float
    latency_p99_ms: float
    latency_max_ms: float
    budget_ms: float  # a frame's time from sent to due
    first_error: str | None = None

    @property
    def miss_percent(self) -> float:
        return 100.0 * self.misses / self.frames if self.frames else 0.0


@dataclass
class StreamsReport:
    url: str
    model: str
    frame_ms: float
    frame_samples: int
    algorithmic_latency_ms: float
    levels: list[StreamLevel] = field(default_factory=list)
    error: str | None = None

    @property
    def most_streams_without_misses(self) -> int:
        ok = [lv.streams for lv in self.levels if lv.misses == 0 and lv.errors == 0]
        return max(ok) if ok else 0

    def to_dict(self) -> dict:
        d = asdict(self)
        for lv, out in zip(self.levels, d["levels"]):
            out["miss_percent"] = lv.miss_percent
        d["most_streams_without_misses"] = self.most_streams_without_misses
        return d


async def one_stream(streamer: AsyncTritonStreamer, audio: np.ndarray, frame: int, period_s: float,
                     start_at: float, records: list) -> None:
    """Send `audio` frame by frame at real-time pace from `start_at`; record (latency s, late s | None, error)."""
    frames = [audio[i: i + frame] for i in range(0, len(audio) - frame + 1, frame)]
    for k, chunk in enumerate(frames):
        due_send = start_at + (k + 1) * period_s  # the frame is fully captured then
        delay = due_send - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sent = time.perf_counter()
        try:
            await streamer.push(chunk, last=k == len(frames) - 1)
        except WuxError as e:
            records.append((None, None, first_line(e)))
            return  # the stream is broken: its remaining frames are misses (counted by the caller)
        back = time.perf_counter()
        records.append((back - sent, back - (due_send + period_s), None))


async def warmed(url: str, model: str, frame: int) -> AsyncTritonStreamer:
    streamer = await AsyncTritonStreamer(url, model).open()
    await streamer.push(np.zeros(frame, dtype=np.float32), last=True)  # starts and ends its own stream
    return streamer.next_stream()  # the warmed client, a new stream


async def run_level(cfg: StreamsConfig, n: int, frame: int, sample_rate: int) -> StreamLevel:
    period_s = frame / sample_rate
    samples = int(round(cfg.seconds * sample_rate / frame)) * frame
    audio = make_signal("speech", n, samples, cfg.seed)
    per_stream: list[list] = [[] for _ in range(n)]
    # every caller is connected, and its client warmed with one frame of a throwaway stream, before the first
    # one speaks: a client's first request pays for the library's lazy set-up (about 20 ms here), once
    streamers = await asyncio.gather(*(warmed(cfg.url, cfg.model, frame) for _ in range(n)))
    try:
        t0 = time.perf_counter() + 0.1
        await asyncio.gather(*(one_stream(streamers[i], audio[i], frame, period_s, t0 + i * period_s / n,
                                          per_stream[i]) for i in range(n)))
    finally:
        await asyncio.gather(*(s.close() for s in streamers), return_exceptions=True)
    expected = samples // frame
    latencies = [r[0] for recs in per_stream for r in recs if r[0] is not None]
    errors = [r[2] for recs in per_stream for r in recs if r[2] is not None]
    late = sum(1 for recs in per_stream for r in recs if r[1] is not None and r[1] > 0)
    missing = sum(expected - sum(1 for r in recs if r[0] is not None) for recs in per_stream)
    pct = latency_percentiles_ms(latencies) if latencies else {"p50": 0.0, "p90": 0.0, "p99": 0.0}
    return StreamLevel(streams=n, frames=n * expected, answered=len(latencies), errors=len(errors),
                       misses=late + missing, latency_p50_ms=pct["p50"], latency_p90_ms=pct["p90"],
                       latency_p99_ms=pct["p99"], latency_max_ms=1e3 * max(latencies, default=0.0),
                       budget_ms=1e3 * period_s, first_error=errors[0] if errors else None)


async def run_streams_async(cfg: StreamsConfig, say=None) -> StreamsReport:
    probe = AsyncTritonStreamer(cfg.url, cfg.model)
    await probe.open()
    info = probe.info
    await probe.close()
    rate = info.contract.sample_rate
    frame = round(rate * cfg.frame_ms / 1000)
    if abs(frame - rate * cfg.frame_ms / 1000) > 1e-6:
        raise WuxError(f"--frame-ms {cfg.frame_ms:g} is not a whole number of samples at {rate} Hz")
    info.check_frame(frame)
    report = StreamsReport(cfg.url, cfg.model, cfg.frame_ms, frame, algorithmic_latency_ms=1e3 * frame / rate)
    # not counted: a fresh server's first frames pay one-time set-up in each instance (about 30 ms here)
    await run_level(replace(cfg, seconds=WARMUP_SECONDS), WARMUP_STREAMS, frame, rate)
    for n in cfg.streams:
        try:
            level = await run_level(cfg, n, frame, rate)
        except Exception as e:  # noqa: BLE001 - the server went away: keep the finished levels
            report.error = f"at {n} streams: {first_line(e)}"
            break
        report.levels.append(level)
        if say:
            say(level)
    return report


def run_streams(cfg: StreamsConfig, say=None) -> StreamsReport:
    return asyncio.run(run_streams_async(cfg, say))


def write_streams_csv(path, report: StreamsReport):
    import csv

    from wux.fsutil import atomic_file

    columns = ("streams", "frames", "answered", "errors", "misses", "miss_percent", "latency_p50_ms",
               "latency_p90_ms", "latency_p99_ms", "latency_max_ms", "budget_ms")
    with atomic_file(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for lv in report.levels:
            writer.writerow([getattr(lv, c) if c != "miss_percent" else f"{lv.miss_percent:.3f}" for c in columns])
    return path


def write_streams_plot(path, report: StreamsReport):
    from wux.fsutil import atomic_file
    from wux.tools import require

    matplotlib = require("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [lv.streams for lv in report.levels]
    fig, (lat, miss) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (("latency_p50_ms", "p50"), ("latency_p90_ms", "p90"), ("latency_p99_ms", "p99")):
        lat.plot(n, [getattr(lv, key) for lv in report.levels], marker="o", label=label)
    if report.levels:
        lat.axhline(report.levels[0].budget_ms, color="k", ls=":", label="deadline")
    lat.set_xlabel("concurrent streams")
    lat.set_ylabel("frame latency, ms")
    lat.legend()
    lat.grid(alpha=0.3)
    miss.bar([str(x) for x in n], [lv.miss_percent for lv in report.levels])
    miss.set_xlabel("concurrent streams")
    miss.set_ylabel("deadline misses, % of frames")
    fig.suptitle(f"wux perf --streams: {report.model}, {report.frame_ms:g} ms frames")
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path
