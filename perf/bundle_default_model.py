"""Copy a trained default model, its demo sample and its provenance into wux/model/default/.

Usage: python perf/bundle_default_model.py [--name NAME] [--earlier PROVENANCE_JSON] [--base TRAIN_JSON ...]
CKPT CORPUS TRAIN_JSON EVAL_JSON "COMMAND" ...
The commands are recorded verbatim in PROVENANCE.md: pass exactly what was run. --name classic or causal
bundles that model instead (e.g. causal.wux.pt, causal_provenance.json, CAUSAL_PROVENANCE.md; the demo sample
stays: it belongs to the default). A fine-tuned model (`wux train --init`) keeps the runs it came from as
earlier stages, in order: --base names one run's `wux train --json` output (its checkpoint must still be there,
for its sha256; repeat it for each run), --earlier a bundled model's provenance record, when CKPT was
fine-tuned from that bundled model (its stages and its own run). Stages are kept in the order given: pass
--earlier before any --base that came after it. Pass their commands too. A stage (or TRAIN_JSON) may be a soup's
`wux soup --json` output instead: its runs' training records are read from beside their checkpoints.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from wux.contract import DEFAULT_SAMPLE_RATE as SAMPLE_RATE
from wux.data.layout import CORPUS_RECORD
from wux.fsutil import sha256_file
from wux.model.checkpoint import load_checkpoint, save_checkpoint
from wux.model.load import ModelSource, load_model
from wux.model.report import model_report
from wux.render import number
from wux.resources import BUNDLED_MODELS, PROVENANCE_FILES

DEST = Path(__file__).resolve().parents[1] / "wux" / "model" / "default"
SAMPLE_NOISE = "pink"  # the demo sample: test utterances with this noise family
SAMPLE_SECONDS = 6.0


def pick_sample(corpus: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Join test utterances with SAMPLE_NOISE until SAMPLE_SECONDS: unseen speakers, unseen text."""
    meta = json.loads((corpus / CORPUS_RECORD).read_text())["utterances"]
    names = sorted(u["name"] for u in meta if u["split"] == "test" and u["noise"] == SAMPLE_NOISE)
    clean, noisy, used = [], [], []
    for name in names:
        clean.append(sf.read(corpus / "clean_testset_wav" / f"{name}.wav", dtype="float32")[0])
        noisy.append(sf.read(corpus / "noisy_testset_wav" / f"{name}.wav", dtype="float32")[0])
        used.append(name)
        if sum(len(c) for c in clean) >= SAMPLE_SECONDS * SAMPLE_RATE:
            break
    return np.concatenate(clean), np.concatenate(noisy), used


def training_table(train: dict) -> str:
    rows = "\n".join(
        f"| {h['epoch']} | {h['steps']} | {h['train_loss']:.2f} | {h['val_si_snr_db']:.2f} | {h['lr']:.2g} |"
        for h in train["history"])
    best = train["best_val_si_snr_db"]
    kept = "no validation files" if best is None else f"best validation SI-SNR {best:.2f} dB"
    # a resumed run's own minutes leave out its earlier runs; its history's epochs count them all
    minutes = max(train["minutes"], sum(h["seconds"] for h in train["history"]) / 60)
    return f"""{train['steps']} optimizer steps in {minutes:.1f} minutes; {kept}.

| epoch | steps | train loss | validation SI-SNR dB | lr |
|---|---|---|---|---|
{rows}"""


def stage_text(train: dict) -> str:
    """One stage's table: its training run's, or each of its soup's runs'."""
    if "members" not in train:
        return training_table(train)
    how = "greedy soup (`wux soup --greedy`: each run kept only where it did not lower the validation score)" \
        if train.get("weights") == "greedy" else "uniform average (`wux soup`)"
    parts = [f"The {how} of {len(train['members'])} runs, each fine-tuned from that checkpoint:"]
    for run, member in enumerate(train["members"], 1):
        parts.append(f"Run {run} (checkpoint sha256 `{member['sha256']}`): {training_table(member['train'])}")
    if train.get("validation"):  # null: a soup made without --data
        parts.append(soup_validation_text(train["validation"]))
    return "\n\n".join(parts)


def soup_validation_text(scores: dict) -> str:
    """A soup's validation scores (`wux soup --data`): the soup's and its runs'."""
    runs = ", ".join(f"{s:.2f}" for s in scores["members_si_snr_db"])
    return (f"Validation SI-SNR on the {scores['files']} files `wux train` holds out (`wux soup --data`): the soup "
            f"**{scores['soup_si_snr_db']:.2f} dB**, its runs {runs} dB.")


def training_text(record: dict) -> str:
    """The training table; a fine-tuned model's earlier stages first, each fine-tuned from the one before."""
    stages = record.get("stages", [])
    if not stages:
        return stage_text(record["train"])
    parts = [f"{len(stages) + 1} stages: a base run, then each stage fine-tuned from the best checkpoint of the "
             "one before (or several runs fine-tuned from it, averaged)."]
    for stage_number, stage in enumerate(stages, 1):
        what = "base run" if stage_number == 1 else f"from stage {stage_number - 1}"
        parts.append(f"### Stage {stage_number}: {what} (checkpoint sha256 `{stage['checkpoint_sha256']}`)\n\n"
                     f"{stage_text(stage['train'])}")
    parts.append(f"### Stage {len(stages) + 1}: from stage {len(stages)} (this checkpoint)\n\n"
                 f"{stage_text(record['train'])}")
    return "\n\n".join(parts)


def earlier_stages(provenance: Path) -> list[dict]:
    """A bundled model's stages as its provenance record keeps them, its own run last."""
    record = json.loads(provenance.read_text())
    return [*record.get("stages", []), {"checkpoint_sha256": record["checkpoint_sha256"], "train": record["train"]}]


def stage_record(record_json: Path) -> dict:
    """A stage's record: a run's `wux train --json` output, or a soup's `wux soup --json` output with each of its
    runs' training record (X.train.json beside its checkpoint X.wux.pt) under "train"."""
    record = json.loads(record_json.read_text())
    for member in record.get("members", []):
        member_json = Path(member["checkpoint"].removesuffix(".wux.pt") + ".train.json")
        if not member_json.is_file():
            sys.exit(f"{record_json}: soup member {member['checkpoint']} has no training record {member_json} "
                     "beside it")
        member["train"] = json.loads(member_json.read_text())
    return record


def stage_of_run(record_json: Path) -> dict:
    """One earlier stage from its record (a run's or a soup's), its checkpoint identified by sha256."""
    train = stage_record(record_json)
    return {"checkpoint_sha256": sha256_file(train["checkpoint"]), "train": train}


def provenance_markdown(record: dict, commands: list[str], name: str = "default") -> str:
    ev, info = record["eval"], record["model"]
    corpus = record["corpus"]
    title = "default model" if name == "default" else f"{name} model (`--checkpoint {name}`)"
    sample = ("" if "demo_sample" not in record else f"""
The demo sample (`sample_noisy.wav`, `sample_clean.wav`) joins test utterances
{', '.join(record['demo_sample']['utterances'])} ({record['demo_sample']['noise']} noise).
""")
    return f"""# The bundled {title}: provenance

Made with wux's own tools on a 2-core CPU machine; nothing was downloaded.

## Commands, exactly as run

```bash
{chr(10).join(commands)}
```

## Data

{corpus_text(corpus)}

## Model

{info['parameters']:,} parameters, {info['macs_per_second_audio'] / 1e9:.2f} GMAC per second of audio,
total stride {info['total_stride']}, receptive field {info['receptive_field_samples']} samples.
Checkpoint sha256 `{record['checkpoint_sha256']}`.

## Training

{training_text(record)}

## `wux eval` on the test split (unseen voices and sentences, {ev['files']} files)

{eval_text(ev, f'the {name} model')}
{sample}"""


def corpus_text(corpus: dict) -> str:
    """The corpus paragraph, from `wux data synth`'s summary (a classic one names only espeak-ng)."""
    engines = corpus.get("engines") or {"espeak": corpus.get("espeak_version", "?")}
    spoken = " and ".join(f"{'espeak-ng' if e == 'espeak' else 'Festival'} {v}" for e, v in engines.items())
    rooms = corpus.get("reverberant_share", 0.0)
    return (f"`wux data synth --recipe {corpus.get('recipe', 'classic')}` with seed {corpus['seed']}: "
            f"{corpus['files']['train']} training and {corpus['files']['test']} test utterances "
            f"({corpus['minutes']['train']} and {corpus['minutes']['test']} minutes), spoken by {spoken}; "
            f"{corpus['voices']['train']} training voices and {corpus['voices']['test']} test-only voices; noise "
            f"kinds {', '.join(corpus['noise_families'])}; SNR {corpus['snr_range_db'][0]} to "
            f"{corpus['snr_range_db'][1]} dB; {100 * rooms:.0f} % of utterances in reverberant rooms. "
            "Test sentences and test voices never occur in training.")


def eval_text(ev: dict, label: str) -> str:
    """The overall table (every system) and the model's and baselines' gains per noise kind, SNR band and room; the
    model (named by its build path in the evaluation) is called `label`."""
    if not ev.get("rows"):  # an evaluation from before wux eval grouped its scores
        return (f"| | mean | median |\n|---|---|---|\n"
                f"| input SI-SNR dB | {ev['input_si_snr_db_mean']:.2f} | {ev['input_si_snr_db_median']:.2f} |\n"
                f"| output SI-SNR dB | {ev['output_si_snr_db_mean']:.2f} | {ev['output_si_snr_db_median']:.2f} |\n"
                f"| improvement dB | **{ev['si_snr_improvement_db_mean']:.2f}** | "
                f"{ev['si_snr_improvement_db_median']:.2f} |")
    rename = {ev["model"]: label}
    rows = {(r["group"], rename.get(r["system"], r["system"])): r for r in ev["rows"]}
    systems = [rename.get(s, s) for s in ev["systems"]]
    lines = ["| system | SI-SNR dB | improvement dB (mean / median) | PESQ-WB (mean / median) | STOI (mean / median) |",
             "|---|---|---|---|---|"]
    for s in systems:
        r = rows[("all", s)]
        lines.append(f"| {s} | {r['si_snr_db_mean']:.2f} | {r['si_snr_improvement_db_mean']:+.2f} / "
                     f"{r['si_snr_improvement_db_median']:+.2f} | {number(r['pesq_wb_mean'], '.2f')} / "
                     f"{number(r['pesq_wb_median'], '.2f')} | {number(r['stoi_mean'], '.3f')} / "
                     f"{number(r['stoi_median'], '.3f')} |")
    groups = [g for g in dict.fromkeys(r["group"] for r in ev["rows"]) if g != "all"]
    head = " | ".join(f"{s} dB / PESQ / STOI" for s in systems[1:])
    lines += ["", f"| group | files | input PESQ / STOI | {head} |", "|---|---|---|" + "---|" * len(systems[1:])]
    for g in groups:
        inp = rows[(g, systems[0])]
        cells = " | ".join(f"{rows[(g, s)]['si_snr_improvement_db_mean']:+.2f} / "
                           f"{number(rows[(g, s)]['pesq_wb_mean'], '.2f')} / {number(rows[(g, s)]['stoi_mean'], '.3f')}"
                           for s in systems[1:])
        lines.append(f"| {g} | {inp['files']} | {number(inp['pesq_wb_mean'], '.2f')} / "
                     f"{number(inp['stoi_mean'], '.3f')} "
                     f"| {cells} |")
    skipped = ev.get("skipped_metrics") or []
    return "\n".join(lines) + (f"\n\nNot measured: {', '.join(skipped)}." if skipped else "")


def model_facts(path: Path) -> dict:
    """Parameters, MACs and receptive field, as the provenance record keeps them."""
    report = model_report(load_model(ModelSource(checkpoint=path)))
    c = report.contract
    return {"parameters": report.parameters, "macs_per_second_audio": report.macs_per_second_audio,
            "total_stride": c["align"], "receptive_field_samples": c["receptive_field"],
            "receptive_field_ms": report.receptive_field_ms}  # the rate is the checkpoint's own


def main(ckpt_path: Path, corpus: Path, train_json: Path, eval_json: Path, commands: list[str],
         name: str = "default", stages: list[dict] | None = None) -> None:
    ckpt = load_checkpoint(ckpt_path)
    history = ckpt.training.pop("history", [])
    DEST.mkdir(parents=True, exist_ok=True)
    target = DEST / BUNDLED_MODELS[name]
    save_checkpoint(ckpt, target)
    train = stage_record(train_json)
    if "members" not in train:
        train.setdefault("history", history)
    evaluation = json.loads(eval_json.read_text())
    evaluation.pop("per_file", None)
    record = {
        "checkpoint_sha256": sha256_file(target),
        "commands": commands,
        "corpus": json.loads((corpus / CORPUS_RECORD).read_text())["summary"],
        "model": model_facts(target),
        "train": train,
        "eval": evaluation,
    }
    if stages:
        record["stages"] = stages
    if name == "default":
        clean, noisy, used = pick_sample(corpus)
        sf.write(DEST / "sample_clean.wav", clean, SAMPLE_RATE, subtype="PCM_16")
        sf.write(DEST / "sample_noisy.wav", noisy, SAMPLE_RATE, subtype="PCM_16")
        record["demo_sample"] = {"utterances": used, "noise": SAMPLE_NOISE}
    provenance = DEST / PROVENANCE_FILES[name]
    provenance.write_text(json.dumps(record, indent=1) + "\n")
    provenance.with_name(provenance.stem.upper() + ".md").write_text(provenance_markdown(record, commands, name))
    print(json.dumps({"bundled": str(target), "sha256": record["checkpoint_sha256"],
                      "si_snr_improvement_db_mean": evaluation["si_snr_improvement_db_mean"]}))


if __name__ == "__main__":
    args = sys.argv[1:]
    name, stages = "default", []
    while args[:1] in (["--name"], ["--base"], ["--earlier"]):
        if args[0] == "--name":
            name = args[1]
        elif args[0] == "--base":
            stages.append(stage_of_run(Path(args[1])))
        else:
            stages += earlier_stages(Path(args[1]))
        args = args[2:]
    if len(args) < 5 or name not in BUNDLED_MODELS:
        sys.exit(__doc__)
    main(Path(args[0]), Path(args[1]), Path(args[2]), Path(args[3]), args[4:], name, stages)
