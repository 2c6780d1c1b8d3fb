"""`wux tune`: a Model Analyzer-style search over dynamic batching and instance counts on a live server.

Each candidate config is loaded through Triton's explicit model control with a config override
(the repository on disk is not touched while searching), read back from the server, and
measured with the `wux perf` engine over a concurrency sweep. The config as served is measured
first and again last, in the same run: the two give the baseline and the run's own noise.

Choosing: each config's point is its highest throughput with no errors and p99 within the budget.
Throughputs within the margin (the larger of `min_gain_percent` and the measured noise) of the
top one count as equal; among those the served config is kept if it is there (a change must
earn its place), else the lowest p99 wins. At the end the served config is restored, or, with
`write`, the chosen one is written into the repository (atomically) and loaded from there.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from itertools import product
from pathlib import Path

from wux.errors import WuxError, first_line
from wux.fsutil import atomic_file
from wux.perf.loadgen import LevelResult, PerfConfig, run_perf
from wux.tools import require
from wux.triton_repo.config import thread_parameter, validate

DEFAULT_QUEUE_DELAYS_US = (0, 500, 2000)
DEFAULT_INSTANCES = (1, 2)
DEFAULT_CONCURRENCY = (1, 2, 4, 8)


@dataclass(frozen=True)
class BatchSettings:
    max_batch: int  # 0: the model does not batch (only the instance count is searched)
    preferred_batch: tuple[int, ...]  # empty: Triton's default (its python backend fills in max_batch)
    queue_delay_us: int
    instances: int
    threads: int | None = None  # onnxruntime threads per instance (0: one per core); None: as served
    max_queue_size: int | None = None  # requests queued beyond this are rejected (0: unbounded); None: as served

    def label(self) -> str:
        threads = "" if self.threads is None else f", {self.threads or 'all'} thread(s)"
        queue = "" if self.max_queue_size is None else f", queue {self.max_queue_size or 'unbounded'}"
        if self.max_batch == 0:
            return f"no batching, {self.instances} instance(s){threads}"
        pref = ",".join(map(str, self.preferred_batch)) or "default"
        return (f"max batch {self.max_batch}, preferred {pref}, delay {self.queue_delay_us} us, "
                f"{self.instances} instance(s){threads}{queue}")


@dataclass(frozen=True)
class TuneConfig:
    url: str
    model: str  # the model whose config is searched
    via: str | None = None  # send the load through this model (e.g. the front model); None: `model` itself
    p99_budget_ms: float | None = None  # None: the highest throughput wins, whatever its latency
    max_batch: tuple[int, ...] = ()  # empty: 1, half the served max_batch_size, the served max_batch_size
    preferred_batch: tuple[tuple[int, ...], ...] = ((),)
    queue_delay_us: tuple[int, ...] = DEFAULT_QUEUE_DELAYS_US
    instances: tuple[int, ...] = DEFAULT_INSTANCES
    threads: tuple[int, ...] = ()  # empty: leave the model's onnxruntime thread count as it is
    max_queue_size: tuple[int, ...] = ()  # empty: leave the queue policy as it is
    concurrency: tuple[int, ...] = DEFAULT_CONCURRENCY
    lengths: tuple[tuple[int, float], ...] = ()
    input_data: Path | None = None
    measurement_interval_ms: int = 1000
    stability_percentage: float = 10.0
    max_trials: int = 6
    min_gain_percent: float = 5.0  # a change must beat the served config by more than this (and the noise)
    repo: Path | None = None  # the served repository: needed to write the best config back
    write: bool = False
    timeout_s: float = 30.0
    load_timeout_s: float = 300.0


SERVED, SERVED_AGAIN, CANDIDATE = "served", "served again", "candidate"


@dataclass
class TuneTrial:
    requested: BatchSettings | None  # None: the config as served when the run began
    role: str = CANDIDATE  # SERVED (measured first), SERVED_AGAIN (re-measured last) or CANDIDATE
    applied: BatchSettings | None = None  # read back from the server after loading
    levels: list[LevelResult] = field(default_factory=list)
    best_level: int | None = None  # index into levels: the best point within the budget
    error: str | None = None

    @property
    def best(self) -> LevelResult | None:
        return None if self.best_level is None else self.levels[self.best_level]


@dataclass
class TuneReport:
    url: str
    model: str
    via: str
    p99_budget_ms: float | None
    trials: list[TuneTrial] = field(default_factory=list)
    best_trial: int | None = None  # index into trials; a served one means: keep the served config
    throughput_vs_baseline: float | None = None  # chosen candidate / mean served throughput, same run
    noise_percent: float | None = None  # the served config's two measurements differ by this much
    margin_percent: float | None = None  # throughputs this close to the top count as equal
    written: str | None = None  # the config.pbtxt the best config was written to
    restored: bool = False  # the served config was put back at the end
    error: str | None = None  # why the run ended early (trials finished so far are kept)

    @property
    def best(self) -> TuneTrial | None:
        return None if self.best_trial is None else self.trials[self.best_trial]

    def to_dict(self) -> dict:
        return asdict(self)


# --- configs as Triton's ModelConfig protobuf -------------------------------------------------

def settings_of(config) -> BatchSettings:
    batching = config.dynamic_batching
    key = thread_parameter(config)
    threads = int(config.parameters[key].string_value) if key in config.parameters else None
    queue = int(batching.default_queue_policy.max_queue_size) if config.max_batch_size > 0 else None
    return BatchSettings(config.max_batch_size, tuple(batching.preferred_batch_size),
                         int(batching.max_queue_delay_microseconds),
                         sum(g.count for g in config.instance_group) or 1, threads, queue)


def apply_settings(config, s: BatchSettings):
    """A copy of `config` (a ModelConfig) with these batching settings and instance count."""
    out = type(config)()
    out.CopyFrom(config)
    out.max_batch_size = s.max_batch
    if s.max_batch > 0:
        out.dynamic_batching.max_queue_delay_microseconds = s.queue_delay_us
        del out.dynamic_batching.preferred_batch_size[:]
        out.dynamic_batching.preferred_batch_size.extend(s.preferred_batch)
    if not out.instance_group:
        out.instance_group.add()
    for group in out.instance_group:
        group.count = s.instances
    if s.threads is not None:
        out.parameters[thread_parameter(out)].string_value = str(s.threads)
    if s.max_queue_size is not None and s.max_batch > 0:
        out.dynamic_batching.default_queue_policy.max_queue_size = s.max_queue_size
    return out


def mismatch(requested: BatchSettings, applied: BatchSettings) -> str | None:
    """What the server did not apply; an empty preferred list lets the server choose."""
    fields = ["max_batch", "queue_delay_us", "instances"] + (["preferred_batch"] if requested.preferred_batch else [])
    if requested.max_batch == 0:
        fields = ["max_batch", "instances"]
    fields += [f for f in ("threads", "max_queue_size") if getattr(requested, f) is not None
               and (f == "threads" or requested.max_batch > 0)]
    wrong = [f"{f} {getattr(applied, f)} (asked {getattr(requested, f)})" for f in fields
             if getattr(applied, f) != getattr(requested, f)]
    return ", ".join(wrong) or None


# --- the grid -----------------------------------------------------------------------------------

def default_max_batches(limit: int) -> tuple[int, ...]:
    return tuple(sorted({1, max(1, limit // 2), limit}))


def tuning_grid(cfg: TuneConfig, served: BatchSettings) -> list[BatchSettings]:
    """Every valid combination once; the served max_batch_size is the artifacts' limit."""
    limit = served.max_batch
    if cfg.threads and served.threads is None:
        raise WuxError(f"model {cfg.model} has no thread-count parameter (wux python-backend and onnxruntime "
                       "models have one): --threads cannot be searched")
    threads = cfg.threads or (None,)
    queues = cfg.max_queue_size or (None,)
    if limit == 0:
        if cfg.max_batch or cfg.max_queue_size:
            raise WuxError(f"model {cfg.model} does not batch (max_batch_size 0): only --instances and --threads "
                           "can be searched")
        return [BatchSettings(0, (), 0, n, t) for n, t in product(cfg.instances, threads)]
    max_batches = cfg.max_batch or default_max_batches(limit)
    if max(max_batches) > limit:
        raise WuxError(f"--max-batch {max(max_batches)} exceeds model {cfg.model}'s max_batch_size {limit}, "
                       "the largest batch its artifacts were built and verified for")
    grid: list[BatchSettings] = []
    for mb, pref, delay, inst, th, queue in product(max_batches, cfg.preferred_batch, cfg.queue_delay_us,
                                                    cfg.instances, threads, queues):
        if any(p > mb for p in pref):
            continue  # Triton refuses a preferred batch above max batch
        if mb == 1:
            pref, delay = (), 0  # nothing to batch: a queue delay would only add latency
        s = BatchSettings(mb, tuple(pref), delay, inst, th, queue)
        if s not in grid:
            grid.append(s)
    if not grid:
        raise WuxError("the grid is empty: every preferred batch size is larger than every max batch")
    return grid


def without_served(grid: list[BatchSettings], served: BatchSettings) -> list[BatchSettings]:
    """The served config is measured first and last anyway; a candidate equal to it adds nothing."""
    return [s for s in grid if mismatch(s, served) is not None]


# --- choosing -----------------------------------------------------------------------------------

def within_budget(level: LevelResult, budget_ms: float | None) -> bool:
    return level.errors == 0 and level.requests > 0 and (budget_ms is None or level.latency_p99_ms <= budget_ms)


def best_level(levels: list[LevelResult], budget_ms: float | None) -> int | None:
    """The level with the highest throughput within the budget (lower p99 breaks ties)."""
    ok = [i for i, lv in enumerate(levels) if within_budget(lv, budget_ms)]
    if not ok:
        return None
    return max(ok, key=lambda i: (levels[i].throughput_infer_per_s, -levels[i].latency_p99_ms))


def served_throughputs(trials: list[TuneTrial]) -> list[float]:
    return [t.best.throughput_infer_per_s for t in trials if t.role != CANDIDATE and t.best is not None]


def noise_percent(trials: list[TuneTrial]) -> float | None:
    """How far apart the served config's first and last measurements are, in % of their mean."""
    served = served_throughputs(trials)
    if len(served) < 2:
        return None
    return 100 * abs(served[0] - served[-1]) / (sum(served) / len(served))


def choose(trials: list[TuneTrial], margin_percent: float) -> int | None:
    """The served config if it is within the margin of the top throughput, else the lowest p99 there."""
    scored = [i for i, t in enumerate(trials) if t.best is not None]
    if not scored:
        return None
    top = max(trials[i].best.throughput_infer_per_s for i in scored)
    contenders = [i for i in scored if trials[i].best.throughput_infer_per_s >= top * (1 - margin_percent / 100)]
    served = [i for i in contenders if trials[i].role != CANDIDATE]
    if served:
        return served[0]
    return min(contenders, key=lambda i: (trials[i].best.latency_p99_ms, -trials[i].best.throughput_infer_per_s))


def throughput_ratio(trials: list[TuneTrial], best: int | None) -> float | None:
    served = served_throughputs(trials)
    if best is None or not served or trials[best].role != CANDIDATE:
        return None
    return trials[best].best.throughput_infer_per_s / (sum(served) / len(served))


def decide(report: TuneReport, min_gain_percent: float) -> None:
    report.noise_percent = noise_percent(report.trials)
    report.margin_percent = max(min_gain_percent, report.noise_percent or 0.0)
    report.best_trial = choose(report.trials, report.margin_percent)
    report.throughput_vs_baseline = throughput_ratio(report.trials, report.best_trial)


# --- the repository on disk ---------------------------------------------------------------------

def repo_config_path(repo: Path, model: str) -> Path:
    return Path(repo) / model / "config.pbtxt"


def read_repo_config(repo: Path, model: str):
    path = repo_config_path(repo, model)
    if not path.is_file():
        raise WuxError(f"no config for model {model} in this repository", path)
    config = validate(path.read_text(), str(path))
    if config.name and config.name != model:
        raise WuxError(f"this config is for model {config.name!r}, not {model!r}", path)
    return config


def check_repo_matches(repo_config, served, path: Path) -> None:
    """Refuse to write into a repository whose config is not the one being served."""
    disk, live = settings_of(repo_config), settings_of(served)
    if mismatch(disk, live):
        raise WuxError(f"this config ({disk.label()}) is not what the server serves ({live.label()}); "
                       "pass the repository the server was started with", path)


def write_config(repo: Path, model: str, s: BatchSettings):
    """The repository's own config.pbtxt with these settings, schema-checked, renamed into place."""
    text_format = require("google.protobuf.text_format")
    path = repo_config_path(repo, model)
    config = apply_settings(read_repo_config(repo, model), s)
    text = text_format.MessageToString(config)
    validate(text, str(path))
    with atomic_file(path) as tmp:
        tmp.write_text(text)
    return config


# --- the search ---------------------------------------------------------------------------------

class ModelControl:
    """Load a model with a config override and read back what the server applied."""

    def __init__(self, url: str, model: str, timeout_s: float, load_timeout_s: float):
        grpc = require("tritonclient.grpc")
        self.model = model
        self.url = url
        self.client = grpc.InferenceServerClient(url)
        self.timeout_s = timeout_s
        self.load_timeout_s = load_timeout_s

    def served_config(self):
        return self.client.get_model_config(self.model, client_timeout=self.timeout_s).config

    def load(self, config) -> BatchSettings:
        json_format = require("google.protobuf.json_format")
        self.client.load_model(self.model, config=json_format.MessageToJson(config),
                               client_timeout=self.load_timeout_s)
        return settings_of(self.served_config())

    def close(self) -> None:
        self.client.close()


def perf_config(cfg: TuneConfig) -> PerfConfig:
    return PerfConfig(url=cfg.url, model=cfg.via or cfg.model, concurrency=cfg.concurrency, lengths=cfg.lengths,
                      input_data=cfg.input_data, measurement_interval_ms=cfg.measurement_interval_ms,
                      stability_percentage=cfg.stability_percentage, max_trials=cfg.max_trials,
                      timeout_s=cfg.timeout_s)


def measure(cfg: TuneConfig, control: ModelControl, trial: TuneTrial) -> str | None:
    """The concurrency sweep; stops at the first level over budget or with errors. Returns a run-ending error (the
    server gone between the trial's load and its first request is one, as it is during the load)."""
    def past_budget(level: LevelResult) -> bool:
        return not within_budget(level, cfg.p99_budget_ms)

    try:
        result = run_perf(perf_config(cfg), show_progress=False, stop_after=past_budget)
    except WuxError as e:
        if server_live(control):
            raise
        return f"the server went away: {first_line(e)}"
    trial.levels = result.levels
    trial.best_level = best_level(result.levels, cfg.p99_budget_ms)
    return result.error


def say_trial(i: int, total: int, trial: TuneTrial, budget_ms: float | None) -> None:
    settings = trial.requested or trial.applied
    what = f"{'' if trial.role == CANDIDATE else trial.role + ': '}{settings.label() if settings else ''}"
    if trial.error:
        outcome = f"failed: {trial.error}"
    elif trial.best is None:
        outcome = "no level within the budget" if budget_ms else "no level without errors"
    else:
        b = trial.best
        outcome = (f"{b.throughput_infer_per_s:.1f} infer/s at concurrency {b.concurrency}, "
                   f"p99 {b.latency_p99_ms:.1f} ms")
    print(f"[{i}/{total}] {what}: {outcome}", file=sys.stderr, flush=True)


def connect(cfg: TuneConfig) -> tuple[ModelControl, object]:
    control = ModelControl(cfg.url, cfg.model, cfg.timeout_s, cfg.load_timeout_s)
    try:
        return control, control.served_config()
    except Exception as e:  # noqa: BLE001 - connection and lookup failures become one line
        control.close()
        raise WuxError(f"cannot use model {cfg.model!r} at {cfg.url}: {first_line(e)}") from None


def search(cfg: TuneConfig, control: ModelControl, served, grid: list[BatchSettings], report: TuneReport,
           say: Callable[[int, int, TuneTrial], None]) -> None:
    """The served config, every candidate, the served config again; stops at a run-ending error."""
    plan = [TuneTrial(None, SERVED)] + [TuneTrial(s) for s in grid] + [TuneTrial(None, SERVED_AGAIN)]
    for n, trial in enumerate(plan, start=1):
        report.trials.append(trial)
        report.error = run_trial(cfg, control, served, trial)
        say(n, len(plan), trial)
        if report.error:
            return


def run_trial(cfg: TuneConfig, control: ModelControl, served, trial: TuneTrial) -> str | None:
    """Load the trial's config, check what the server applied, measure it. Returns a run-ending error.

    The served config is reloaded too: every config is measured freshly loaded, and a server that
    does not allow model control fails on the first load, before any measuring."""
    config = served if trial.requested is None else apply_settings(served, trial.requested)
    try:
        trial.applied = control.load(config)
    except Exception as e:  # noqa: BLE001 - a refused config is recorded, the search goes on
        if not server_live(control):  # during any load, the served one's too: the run ends as gone
            trial.error = f"the server went away: {first_line(e)}"
            return trial.error
        if trial.role == SERVED:
            raise load_failure(control, e) from None
        trial.error = f"the server refused this config: {first_line(e)}"
        return None
    if trial.requested is not None:
        trial.error = mismatch(trial.requested, trial.applied)
    return None if trial.error else measure(cfg, control, trial)


def load_failure(control: ModelControl, e: Exception) -> WuxError:
    if "not allowed" in str(e):
        return WuxError(f"the server at {control.url} does not allow loading models; start it with "
                        "--model-control-mode explicit (wux serve does)")
    return WuxError(f"cannot reload model {control.model!r} at {control.url}: {first_line(e)}")


def server_live(control: ModelControl) -> bool:
    try:
        return bool(control.client.is_server_live(client_timeout=5))
    except Exception:  # noqa: BLE001 - unreachable means not live
        return False


def finish(cfg: TuneConfig, control: ModelControl, served, report: TuneReport) -> None:
    """Write the best config back and load it from the repository, or put the served config back."""
    best = report.best
    write = cfg.write and report.error is None and best is not None and best.role == CANDIDATE
    try:
        if write:
            written = write_config(cfg.repo, cfg.model, best.requested)
            report.written = str(repo_config_path(cfg.repo, cfg.model))
            problem = mismatch(best.requested, control.load(written))
            if problem:
                report.error = f"the written config loaded with {problem}"
        else:
            report.restored = control.load(served) == settings_of(served)
    except WuxError:
        raise
    except Exception as e:  # noqa: BLE001 - say what state the server is left in
        report.error = report.error or f"could not {'load the written' if write else 'restore the served'} " \
                                       f"config: {first_line(e)}"


def run_tune(cfg: TuneConfig, show_progress: bool = True) -> TuneReport:
    if cfg.write and cfg.repo is None:
        raise WuxError("--write needs --repo, the repository the server was started with")
    control, served = connect(cfg)
    try:
        if cfg.write:
            check_repo_matches(read_repo_config(cfg.repo, cfg.model), served, repo_config_path(cfg.repo, cfg.model))
        as_served = settings_of(served)
        grid = without_served(tuning_grid(cfg, as_served), as_served)
        report = TuneReport(cfg.url, cfg.model, cfg.via or cfg.model, cfg.p99_budget_ms)
        say = (lambda i, n, t: say_trial(i, n, t, cfg.p99_budget_ms)) if show_progress else (lambda *a: None)
        try:
            search(cfg, control, served, grid, report, say)
            decide(report, cfg.min_gain_percent)
        finally:
            finish(cfg, control, served, report)
        return report
    finally:
        control.close()
