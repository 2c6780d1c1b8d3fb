"""How results look to people: one function per result type, rich tables on stdout.

The CLI prints `--json` itself (every result is a dataclass with to_dict); everything else comes here.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer


def console():
    """Rich console; when output is piped (CI logs), wide enough that tables are not truncated."""
    from rich.console import Console

    out = Console()
    return out if out.is_terminal else Console(width=160)


def table(title: str, columns: tuple[str, ...], rows: list[tuple], left: tuple[str, ...] = ()):
    from rich.table import Table

    t = Table(title=title)
    for col in columns:
        t.add_column(col, justify="left" if col in left else "right")
    for row in rows:
        t.add_row(*[str(c) for c in row])
    return t


def kv_table(title: str, rows: dict[str, Any]):
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=title, show_header=False)
    t.add_column(style="bold")
    t.add_column()
    for k, v in rows.items():
        t.add_row(escape(k), "-" if v is None else escape(str(v)))
    return t


def number(value: float | None, fmt: str = ".1f") -> str:
    return "-" if value is None else format(value, fmt)


def flatten(prefix: str, data: dict[str, Any]) -> dict[str, Any]:
    """One row per leaf: nested dicts join their keys with dots, a list of dicts (a soup's members) numbers each
    item (`members[0].checkpoint`); a list of plain values stays one row."""
    out = {}
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(f"{key}.", v))
        elif isinstance(v, list) and v and all(isinstance(item, dict) for item in v):
            for i, item in enumerate(v):
                out.update(flatten(f"{key}[{i}].", item))
        else:
            out[key] = v
    return out


# -- environment and models


def progress_line(message: str) -> None:
    typer.echo(message, err=True)


def note_line(note: str) -> None:
    """A note said on stderr as work begins (stdout may be --json's)."""
    progress_line(f"note: {note}")


def doctor(report) -> None:
    console().print(kv_table("wux doctor", report.to_rows()))


def rounded(value: Any) -> Any:
    """A recorded float (or a list of them) to four significant digits (from 1000 on, one decimal) for a table;
    --json keeps them whole."""
    if isinstance(value, float):
        return float(f"{value:.4g}") if abs(value) < 1000 else round(value, 1)
    if isinstance(value, list) and value and all(isinstance(v, float) for v in value):
        return [rounded(v) for v in value]
    return value


def info(report) -> None:
    rows = {"source": report.source, "family": report.family, "parameters": f"{report.parameters:,}",
            "GMAC per second of audio": report.gmacs_per_second_audio,
            "algorithmic latency ms": report.latency_ms, "receptive field ms": report.receptive_field_ms}
    origin = report.contract_origin
    for k, v in flatten("", report.contract).items():
        if k.startswith("window."):
            continue
        top = k.split(".")[0]
        rows[f"contract.{k}"] = f"{v}  ({origin[top]})" if top in origin else v
    rows.update(flatten("model.", {k: v for k, v in report.model.items() if k != "family"}))
    rows.update({k: rounded(v) for k, v in flatten("training.", report.training).items()})
    if report.streaming:
        st = report.streaming
        rows["streaming frames"] = (f"multiples of {st['frame_multiple_samples']} samples "
                                    f"({st['frame_multiple_ms']:g} ms); state {st['state_floats']:,} floats")
        rows["streaming latency ms"] = (f"{st['algorithmic_latency_ms']:g} at {st['frame_samples']}-sample frames "
                                        "(a frame is heard, then denoised; no look-ahead)")
        if st["macs_per_second_streaming"] and st["macs_per_second_offline"]:
            rows["GMAC per second, streamed vs offline"] = (f"{st['macs_per_second_streaming'] / 1e9:.3f} vs "
                                                            f"{st['macs_per_second_offline'] / 1e9:.3f}")
    console().print(kv_table("wux info", rows))


def probe(report) -> None:
    s, e = report.strict, report.effective

    def reach(x):
        return "unbounded" if x is None else f"{x} samples ({1000 * x / report.sample_rate:.1f} ms)"

    rows = {
        "layout": f"[batch{', 1' if report.layout.input_rank == 3 else ''}, samples] in"
                  f"{', tuple out' if report.layout.tuple_output else ''}",
        "lengths": length_rule(report.length),
        "alignment": f"{report.align} samples (windows start on this grid)",
        "past context (exact)": reach(s.past), "look-ahead (exact)": reach(s.future),
        "past context (-60 dB)": reach(e.past), "look-ahead (-60 dB)": reach(e.future),
        "receptive field (exact)": reach(s.span), "receptive field (-60 dB)": reach(e.span),
        "causal": "yes" if report.causal else "no",
        "global dependence": f"yes, {report.far_level_db:.0f} dB below the local response: every output depends on "
                             "all input (a level, a recurrent state); windows approximate it"
                             if report.global_dependence and report.far_level_db is not None else
                             "yes" if report.global_dependence else "no",
        "GMAC per second of audio": number(None if report.macs_per_second is None else report.macs_per_second / 1e9,
                                           ".3f"),
        "probe": f"{report.forwards} forward passes, longest {report.probe_samples} samples, {report.seconds:.1f} s",
    }
    console().print(kv_table("wux probe", rows))


def length_rule(rule) -> str:
    if rule.multiple == 1:
        return "any" if rule.minimum == 1 else f"any from {rule.minimum} samples (shorter input is padded)"
    return f"multiples of {rule.multiple} from {rule.minimum} samples (wux pads to one and crops the output back)"


def imported(result: dict) -> None:
    typer.echo(f"wrote {result['checkpoint']} ({result['tensors']} tensors, {result['family']} model)")


def soup(result) -> None:
    if len(result.members) > 1:
        typer.echo(f"wrote {result.checkpoint} (sha256 {result.sha256[:12]}...): the average of {len(result.members)} "
                   f"checkpoints, {result.tensors_averaged} tensors averaged, {result.tensors_shared} alike in all")
    else:
        typer.echo(f"wrote {result.checkpoint} (sha256 {result.sha256[:12]}...): its best member alone, every other "
                   "one lowered its validation score")
    scores = result.validation
    if result.greedy:  # each member tried, with its own score: the list of members would say it again
        typer.echo(f"greedy: kept {len(result.members)} of {len(result.greedy)}, tried best first")
        for step in result.greedy:
            verdict = "kept" if step.kept else "left out"
            typer.echo(f"  {step.checkpoint}: alone {step.alone_si_snr_db:.2f} dB, the soup with it "
                       f"{step.soup_si_snr_db:.2f} dB: {verdict}")
    else:
        for i, member in enumerate(result.members):
            score = "" if scores is None else f"  validation {scores['members_si_snr_db'][i]:.2f} dB"
            typer.echo(f"  {member.checkpoint}  sha256 {member.sha256[:12]}...{score}")
    if scores is not None:
        soup, best = scores["soup_si_snr_db"], max(scores["members_si_snr_db"])
        typer.echo(f"validation SI-SNR of the soup {soup:.2f} dB on {scores['files']} held-out files of "
                   f"{scores['data']}: {soup - best:+.2f} dB against its best member")


# -- data, training, evaluation


def corpus(summary) -> None:
    console().print(kv_table(f"corpus {summary.root}", summary.to_dict()))


def training(result) -> None:
    rows = [(h.epoch, h.steps, f"{h.train_loss:.3f}", "-" if math.isnan(h.val_si_snr_db) else f"{h.val_si_snr_db:.2f}",
             f"{h.lr:.2g}", f"{h.seconds:.0f}") for h in result.history]
    console().print(table(f"training -> {result.checkpoint}", ("epoch", "steps", "train loss", "val SI-SNR dB", "lr",
                                                                "s"), rows))
    best = ("no validation files: the checkpoint kept has the lowest training loss" if result.best_val_si_snr_db is None
            else f"best validation SI-SNR {result.best_val_si_snr_db:.2f} dB")
    resumed = f" ({result.epoch_minutes:.1f} min over its epochs, earlier runs' included)" \
        if result.epochs_before else ""
    typer.echo(f"{best}, after {result.steps} steps, {result.minutes:.1f} min{resumed}")
    for note in result.notes:
        typer.echo(f"note: {note}")
    gains = result.history[-1].val_gain_by_noise_db if result.history else {}
    if gains:
        typer.echo("last epoch's validation SI-SNR improvement by noise kind: "
                   + ", ".join(f"{kind} {gain:+.2f} dB" for kind, gain in gains.items()))


def epoch_line(record, epochs: int, improved: bool) -> str:
    """One line per finished epoch, for a run watched in a log rather than on a terminal's progress bar."""
    val = "-" if math.isnan(record.val_si_snr_db) else f"{record.val_si_snr_db:.2f} dB"
    kept = ", best so far (saved)" if improved else ""
    line = (f"epoch {record.epoch}/{epochs}: {record.steps} steps, loss {record.train_loss:.3f}, "
            f"validation {val}{kept}, next lr {record.lr:.3g}, {record.seconds:.0f} s")
    gains = record.val_gain_by_noise_db
    return line + ("; " + ", ".join(f"{kind} {gain:+.2f}" for kind, gain in gains.items()) if gains else "")


def epoch_progress(record, epochs: int, improved: bool) -> None:
    progress_line(epoch_line(record, epochs, improved))


def by_what(groups: list[str]) -> str:
    """What an evaluation's groups are: 'noise kind and input SNR', and room where the corpus gave rooms."""
    from wux.quality.scoring import ROOM_GROUP

    return "noise kind, input SNR and room" if any(g.startswith(ROOM_GROUP) for g in groups) else \
        "noise kind and input SNR"


def evaluation(result) -> None:
    """The overall table (every system, every metric), then one table per metric by noise kind, SNR band and room."""
    kinds = f", noise {', '.join(result.noises)}" if result.noises else ""
    typer.echo(f"wux eval: {result.files} files of {result.data} ({result.split}{kinds}); "
               f"SNR bands from {result.snr_source}")
    overall = [r for r in result.rows if r.group == "all"]
    console().print(table("all files (mean / median)", (
        "system", "SI-SNR dB", "improvement dB", "PESQ-WB", "STOI"), [
        (r.system, number(r.si_snr_db_mean, ".2f"),
         f"{r.si_snr_improvement_db_mean:+.2f} / {r.si_snr_improvement_db_median:+.2f}",
         f"{number(r.pesq_wb_mean, '.2f')} / {number(r.pesq_wb_median, '.2f')}",
         f"{number(r.stoi_mean, '.3f')} / {number(r.stoi_median, '.3f')}") for r in overall], left=("system",)))
    groups = list(dict.fromkeys(r.group for r in result.rows if r.group != "all"))
    if groups:
        by = {(r.group, r.system): r for r in result.rows}
        metrics = [("SI-SNR improvement dB", lambda r: f"{r.si_snr_improvement_db_mean:+.2f}", result.systems[1:])]
        if any(r.pesq_wb_mean is not None for r in overall):
            metrics.append(("PESQ-WB", lambda r: number(r.pesq_wb_mean, ".2f"), result.systems))
        if any(r.stoi_mean is not None for r in overall):
            metrics.append(("STOI", lambda r: number(r.stoi_mean, ".3f"), result.systems))
        for title, cell, systems in metrics:
            rows = [(g, by[(g, systems[0])].files, *(cell(by[(g, s)]) for s in systems)) for g in groups]
            console().print(table(f"{title} (mean) by {by_what(groups)}", ("group", "files", *systems), rows,
                                  left=("group",)))
    for skipped in result.skipped_metrics:
        typer.echo(f"not measured: {skipped}")
    first = overall[0]  # every row's PESQ and STOI are over the same files
    left_out = {"PESQ-WB": (first.pesq_files, first.pesq_wb_mean), "STOI": (first.stoi_files, first.stoi_mean)}
    for metric, (kept, mean) in left_out.items():
        if mean is not None and kept < first.files:
            typer.echo(f"note: {metric} is over the {kept} of {first.files} files every system has a score for "
                       "(it finds no speech in the others' input or output)")
    for note in result.notes:
        typer.echo(f"note: {note}")


def denoised(payload: dict) -> None:
    for f in payload["files"]:
        channels = f.get("channels", 1)
        several = f", {channels} channels" if channels > 1 else ""
        typer.echo(f"{f['input']} -> {f['output']} ({f['seconds']:.2f} s{several})")
        if f["clipped"]:
            share = 100 * f["clipped"] / (f["samples"] * channels)
            typer.echo(f"  warning: {f['clipped']} output samples ({share:.2g} %) beyond full scale were clipped to "
                       f"+-1 in {f['sample_format']} (a float WAV input is written as float WAV, which keeps them)",
                       err=True)
    if payload.get("spectrogram"):
        typer.echo(f"spectrograms {payload['spectrogram']}")


def demo(result) -> None:
    r = result.in_process
    typer.echo(f"noisy    {r.noisy}\ndenoised {r.denoised}\nclean    {r.clean}")
    typer.echo(f"SI-SNR before {r.si_snr_before_db:.2f} dB, after {r.si_snr_after_db:.2f} dB, "
               f"improvement {r.si_snr_improvement_db:+.2f} dB ({r.seconds:.2f} s of audio, "
               f"denoised in {r.wall_seconds:.2f} s)")
    if r.pesq_wb_before is not None:
        typer.echo(f"PESQ-WB before {r.pesq_wb_before:.2f}, after {r.pesq_wb_after:.2f}")
    if r.stoi_before is not None:
        typer.echo(f"STOI before {r.stoi_before:.3f}, after {r.stoi_after:.3f}")
    if r.spectrogram:
        typer.echo(f"spectrograms {r.spectrogram}")
    for note in r.notes:
        typer.echo(f"not measured: {note}")
    h = result.held_out
    if h is not None:
        typer.echo(f"on its held-out test split ({h.files} files, unseen voices; recorded in {h.provenance}):")
        for s in h.scores:
            typer.echo(f"  {s.system:<22} SI-SNR {s.si_snr_improvement_db:+.2f} dB, "
                       f"PESQ-WB {number(s.pesq_wb, '.2f')}, STOI {number(s.stoi, '.3f')}")
    t = result.triton
    if t is not None:
        typer.echo(f"Triton: exported {t.export}, repository {t.repo}, served {', '.join(t.served_models)}")
        typer.echo(f"through Triton: {t.denoised}: SI-SNR {t.si_snr_after_db:.2f} dB vs clean; "
                   f"{t.si_snr_vs_in_process_db:.1f} dB vs in-process onnxruntime (same signal above 60 dB)")


# -- export, verify, bench


def tolerance_text(tol) -> str:
    return " & ".join(x for x in (
        f"abs<={tol.max_abs:g}" if tol.max_abs is not None else "",
        f"SI-SNR>={tol.min_si_snr_db:g}" if tol.min_si_snr_db is not None else "") if x) or "-"


def si_snr_with_case(verdict) -> str:
    """The lowest SI-SNR and, when it is below FP32's floor (60 dB), the case it was measured on
    ("-25.8 silence [1x70181]")."""
    from wux.verify.tolerance import DEFAULT_TOLERANCES

    floor = DEFAULT_TOLERANCES["fp32"].min_si_snr_db
    text = number(verdict.worst_si_snr_db)
    if verdict.worst_si_snr_db is not None and verdict.worst_si_snr_db < floor and verdict.worst_si_snr_case:
        text += " " + verdict.worst_si_snr_case
    return text


def parity(report) -> None:
    out = console()
    rows = []
    for a in report.artifacts:
        verdict = ("[green]PASS" if a.passed else f"[red]FAIL ({a.failed_cases}/{a.cases})" if a.failed_cases
                   else "[red]FAIL (task gate)")
        rows.append((a.artifact + (" (fixed length)" if a.fixed_length else ""), a.cases,
                     number(a.worst_max_abs_err, ".2e"), number(a.worst_p99_abs_err, ".2e"),
                     number(a.worst_rel_l2_err, ".2e"), si_snr_with_case(a), tolerance_text(a.tolerance),
                     verdict))
    out.print(table(f"parity vs PyTorch FP32 ({report.device}) - {report.reference}",
                    ("artifact", "cases", "max abs err", "p99 abs err", "rel L2", "min SI-SNR dB", "tolerance",
                     "verdict"), rows, left=("artifact", "tolerance", "verdict")))
    if not report.reference_matches_manifest:
        out.print(f"[yellow]note: {report.reference} is not the model these artifacts were exported from",
                  soft_wrap=True)
    for s in report.skipped:
        out.print(f"skipped {s}", soft_wrap=True)
    for a in report.artifacts:
        if a.task:
            t = a.task
            tol = t["tolerance"]
            out.print(f"{a.artifact} task gate on {t['eval_data']} ({len(t['files'])} files): SI-SNR improvement "
                      f"{t['mean_drop_db']:+.2f} dB below FP32 on average, {t['worst_drop_db']:+.2f} dB on the worst "
                      f"file (allowed {tol['max_mean_drop_db']:g} / {tol['max_worst_drop_db']:g}): "
                      + ("[green]PASS" if t["passed"] else "[red]FAIL"), soft_wrap=True)
    for a in report.artifacts:
        if a.passed:
            continue
        if a.task and not a.task["passed"]:
            w = a.task["would_pass_with"]
            out.print(f"[red]{a.artifact}[/red] INT8 not faithful: {'; '.join(a.task['reasons'])}; it would have "
                      f"passed with a mean drop of {w['max_mean_drop_db']:.2f} dB and a worst of "
                      f"{w['max_worst_drop_db']:.2f} dB", soft_wrap=True)
            continue
        w = a.would_pass_with
        if w is None:
            hint = "no tolerance would pass it"
        else:
            snr = "" if w.min_si_snr_db is None else f" --min-si-snr {w.min_si_snr_db:.1f}"
            hint = f"it would have passed with --atol {w.max_abs:.3g}{snr}"
        out.print(f"[red]{a.artifact}[/red] first failure: {a.first_failure}; {hint}", soft_wrap=True)


def export(result) -> None:
    for a in result.manifest.artifacts:
        typer.echo(f"{a.key:18} {Path(result.folder) / a.file}  {a.bytes / 1e6:.2f} MB  sha256 {a.sha256[:12]}")
    for n in result.notes:
        typer.echo(f"note: {n}")
    if result.verification:
        parity(result.verification)
    else:
        typer.echo("parity NOT checked (--no-verify); run `wux verify` before serving these")


def bench(report) -> None:
    rows = [(r.runner, r.batch, r.samples, r.runs, f"{r.median_ms:.2f}", f"{r.p10_ms:.2f}-{r.p90_ms:.2f}",
             f"{r.real_time_factor:.1f}", f"{r.gmacs_per_s:.1f}",
             f"{100 * r.peak_fraction:.0f}%" if r.peak_fraction else "-", f"{r.speedup_vs_eager:.2f}x")
            for r in report.rows]
    ort = report.ort_threads or "each artifact's own"
    console().print(table(f"wux bench {report.folder} ({report.device}, torch threads {report.torch_threads}, "
                          f"onnxruntime threads {ort})",
                          ("runner", "batch", "samples", "runs", "median ms", "p10-p90 ms", "x realtime", "GMAC/s",
                           "% FP32 peak", "vs eager"), rows, left=("runner",)))
    typer.echo(f"peak (measured FP32 1024^3 matmul): {report.peak_gmacs_per_s:.1f} GMAC/s")
    for v in report.versus_fp32:
        typer.echo(f"{v['runner']} vs {v['versus']} at batch {v['batch']} x {v['samples']}: {v['speedup']:.2f}x "
                   "(median times, same run, alternating blocks)")
    for t in report.tuned:
        s = t["session"]
        if t["defaults_kept"]:
            typer.echo(f"tuned {t['artifact']}: onnxruntime's defaults kept: the changes the search kept measured "
                       f"{t['searched_ratio']:.2f}x them when run together (written to the manifest)")
            continue
        inter = f" with {s['inter_op_threads']} inter-op" if s["inter_op_threads"] else ""
        typer.echo(f"tuned {t['artifact']}: {s['intra_op_threads'] or 'default'} intra-op thread(s), "
                   f"{s['execution_mode']}{inter}, graph {s['graph_optimization']}, spinning "
                   f"{'on' if s['spinning'] else 'off'}, batch {t['batch']}: {t['gain']:.2f}x onnxruntime's "
                   "defaults at batch 1 (written to the manifest)")
    for s in report.skipped:
        typer.echo(f"skipped {s}")


# -- Triton


def repository(result) -> None:
    for m in result.models:
        typer.echo(f"{m.name:24} {m.role:5} {m.kind:18} {m.source or ''}")
    for n in result.notes:
        typer.echo(f"note: {n}")
    typer.echo(f"{'added to' if result.added else 'wrote'} {result.repo} (see {result.readme})")
    if result.clients:
        shipped = sorted(p.name for p in Path(result.clients).iterdir())
        typer.echo(f"wrote {result.clients}: {', '.join(shipped)} (tritonclient scripts for this repository)")
    typer.echo(f"in NVIDIA's container: cd {result.repo} && {result.docker}")
    if result.deploy:
        d = result.deploy
        typer.echo(f"wrote {d['folder']}: {', '.join(d['files'])} (NGC {d['release']})")
        typer.echo(f"on Kubernetes: {d['apply']}")


def serving(info) -> None:
    for model, why in info.skipped_models.items():
        typer.echo(f"not served: {model} ({why})")
    typer.echo(f"ready: {', '.join(info.ready_models)}")
    typer.echo(f"HTTP {info.http_url}  gRPC {info.grpc_url}  metrics {info.host}:{info.metrics_port}  pid {info.pid}",
               )


def perf(report) -> None:
    rate_mode = bool(report.levels and report.levels[0].request_rate)
    rows = [(f"{lv.request_rate:g}" if rate_mode else lv.concurrency,
             "yes" if lv.stable else f"[yellow]no ({lv.trials})", f"{lv.throughput_infer_per_s:.1f}",
             f"{lv.throughput_audio_s_per_s:.1f}", f"{lv.latency_avg_ms:.1f}", f"{lv.latency_p50_ms:.1f}",
             f"{lv.latency_p90_ms:.1f}", f"{lv.latency_p95_ms:.1f}", f"{lv.latency_p99_ms:.1f}",
             f"{lv.server_queue_ms:.1f}", f"{lv.server_compute_infer_ms:.1f}", lv.errors,
             f"{lv.validated} ({lv.validation_failures})", f"{lv.client_cpu_percent:.0f}")
            for lv in report.levels]
    console().print(table(f"wux perf {report.model} @ {report.url}",
                          ("rate/s" if rate_mode else "conc", "stable", "infer/s", "audio-s/s", "avg ms", "p50", "p90",
                           "p95", "p99", "queue ms", "infer ms", "errors", "validated (failed)", "client CPU %"), rows))
    retried = sum(lv.retried for lv in report.levels)
    if retried:
        console().print(f"{retried} request(s) went to another server after theirs went away (answered, counted once)")


def stream_level(lv) -> None:
    """One progress line per finished --streams level on stderr."""
    import sys

    print(f"{lv.streams} streams: p99 {lv.latency_p99_ms:.1f} ms, {lv.misses} misses of {lv.frames} frames",
          file=sys.stderr, flush=True)


def streams(report) -> None:
    rows = [(lv.streams, lv.frames, lv.answered, f"{lv.latency_p50_ms:.1f}", f"{lv.latency_p90_ms:.1f}",
             f"{lv.latency_p99_ms:.1f}", f"{lv.latency_max_ms:.1f}", f"{lv.misses} ({lv.miss_percent:.2f} %)",
             lv.errors) for lv in report.levels]
    out = console()
    out.print(table(f"wux perf --streams {report.model} @ {report.url}: {report.frame_ms:g} ms frames, due "
                    f"{report.levels[0].budget_ms if report.levels else report.frame_ms:g} ms after sending",
                    ("streams", "frames", "answered", "p50 ms", "p90 ms", "p99 ms", "max ms", "deadline misses",
                     "errors"), rows))
    out.print(f"algorithmic latency {report.algorithmic_latency_ms:g} ms; most concurrent real-time streams with no "
              f"deadline miss: {report.most_streams_without_misses}")
    for lv in report.levels:
        if lv.first_error:
            out.print(f"{lv.streams} streams: first error: {lv.first_error}")


def tune(report) -> None:
    out = console()
    budget = f", p99 <= {report.p99_budget_ms:g} ms" if report.p99_budget_ms else ""
    rows = []
    for i, trial in enumerate(report.trials):
        s, b = trial.applied or trial.requested, trial.best
        note = "; ".join(x for x in (trial.role if trial.role != "candidate" else "",
                                     trial.error or ("" if b else "no level within budget")) if x)
        cells = ([s.max_batch, ",".join(map(str, s.preferred_batch)) or "-", s.queue_delay_us, s.instances,
                  "-" if s.threads is None else (s.threads or "all"),
                  "-" if s.max_queue_size is None else (s.max_queue_size or "any")] if s else ["-"] * 6)
        nums = ([b.concurrency, f"{b.throughput_infer_per_s:.1f}", f"{b.throughput_audio_s_per_s:.1f}",
                 f"{b.latency_p50_ms:.1f}", f"{b.latency_p99_ms:.1f}", "yes" if b.stable else "no"] if b else ["-"] * 6)
        mark = "[bold green]" if i == report.best_trial else ""
        rows.append((f"{mark}{i}", *cells, *nums, note))
    out.print(table(f"wux tune {report.model} (load through {report.via}) @ {report.url}{budget}",
                    ("#", "max batch", "preferred", "delay us", "instances", "threads", "queue", "best conc", "infer/s",
                     "audio-s/s", "p50 ms", "p99 ms", "stable", "note"), rows))
    if report.noise_percent is not None:
        out.print(f"noise: the served config's two measurements differ by {report.noise_percent:.1f} %; "
                  f"throughputs within {report.margin_percent:.1f} % of the top count as equal")
    if report.best is not None:
        b = report.best.best
        ratio = f" = {report.throughput_vs_baseline:.2f}x the served config" if report.throughput_vs_baseline else ""
        out.print(f"best: #{report.best_trial} {b.throughput_infer_per_s:.1f} infer/s at concurrency "
                  f"{b.concurrency}, p99 {b.latency_p99_ms:.1f} ms{ratio}")
        if report.best.role != "candidate":
            out.print("no candidate beats the served config by more than the margin: keep it")
    if report.written:
        out.print(f"written: {report.written} (and loaded)")
    elif report.restored:
        out.print("the served config was restored")
