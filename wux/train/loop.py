"""`wux train`: SI-SNR training with Adam, plateau or cosine LR decay, accumulation, mixed precision, resume."""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from wux.contract import DEFAULT_SAMPLE_RATE
from wux.data import SPEED_PERCENT_RANGE
from wux.data.augment import AugmentConfig
from wux.data.dataset import (
    SegmentDataset,
    check_kind_weights,
    conversion_notes,
    held_out_names,
    list_pairs,
    noise_kind_weights,
    read_pairs,
    split_held,
)
from wux.data.fresh_babble import BabblePool, babble_pool, corpus_talkers
from wux.data.layout import Metadata, check_noise_kinds, read_metadata, unread_record_notes
from wux.errors import CheckpointError, ConfigError, DataError, WuxError
from wux.fsutil import check_new_file, check_writable, refuse_replacing_inputs
from wux.metrics import EPS, si_snr_db, si_snr_torch
from wux.model.checkpoint import Checkpoint, build_model, load_checkpoint, save_checkpoint
from wux.model.config import WaveUNetConfig, load_config_json
from wux.model.config import preset as get_preset
from wux.model.grow import check_growable, grows_from, load_grown
from wux.model.load import KWARGS_WITHOUT_MODEL, ModelSource, load_model, model_of_checkpoint, stated_sample_rate
from wux.model.user import UserModel
from wux.progress import progress_bar
from wux.runtime.device import CPU_BF16_FLAGS, cpu_has_bf16, require_device
from wux.tools import require
from wux.train import (
    COSINE,
    DEFAULT_DC_WEIGHT,
    DEFAULT_LEVEL_WEIGHT,
    DEFAULT_LR,
    DEFAULT_LR_PATIENCE,
    DEFAULT_LR_SCHEDULE,
    LR_SCHEDULES,
    PLATEAU,
    TRAIN_PRECISIONS,
)


@dataclass(frozen=True)
class TrainConfig:
    data: Path
    out: Path
    model: WaveUNetConfig | UserModel  # a Wave-U-Net, or a callable (wux's StftMask, the user's own) with kwargs
    epochs: int = 20
    max_minutes: float | None = None
    batch_size: int = 16
    segment: int = 16_384
    # None: DEFAULT_LR for a new run; on --resume, None or the rate the run was last given keeps its own (decayed)
    # rate, another value replaces it (resumed_learning_rate), and restart_lr sets even the same one again
    lr: float | None = None
    restart_lr: bool = False
    accumulate: int = 1
    lr_patience: int = DEFAULT_LR_PATIENCE  # epochs without a better validation score before the rate halves
    lr_schedule: str = DEFAULT_LR_SCHEDULE  # one of wux.train.LR_SCHEDULES
    segments_per_epoch: int | None = None  # default: the training audio's length in segments
    val_share: float = 0.05
    val_by: str = "file"  # "speaker": whole speakers held out (wux.data.dataset.held_out_names)
    level_weight: float = DEFAULT_LEVEL_WEIGHT
    # Weight of the DC term (dc_error_db): SI-SNR removes the mean, so without it a model's output may carry any
    # constant offset (the bundled model's stages 1-7, trained with 0, output about 0.0105 on silence)
    dc_weight: float = DEFAULT_DC_WEIGHT
    # A soft cap on each segment's SI-SNR in the loss (dB; None: plain SI-SNR): segments denoised past it stop
    # pulling, and the ones still far below it (babble, music) get the training's attention
    snr_cap_db: float | None = None
    clip_grad_norm: float | None = 10.0  # a single bad batch must not wreck the run
    seed: int = 0
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    noise_weights: dict[str, float] = field(default_factory=dict)  # noise kind -> draw weight (others 1)
    device: str = "cpu"
    precision: str = "auto"  # one of wux.train.TRAIN_PRECISIONS
    threads: int | None = None
    resume: bool = False
    force: bool = False  # a new run may replace an existing `out` and its .last checkpoint
    # A checkpoint whose weights a new run starts from (fine-tuning): same model config, or one grown from it
    # (wux.model.grow); a fresh optimizer
    init: Path | None = None
    tensorboard: Path | None = None
    sample_rate: int = DEFAULT_SAMPLE_RATE

    def to_dict(self) -> dict:
        d = asdict(self)
        d["data"], d["out"] = str(self.data), str(self.out)
        d["init"] = str(self.init) if self.init else None
        d["tensorboard"] = str(self.tensorboard) if self.tensorboard else None
        d["model"] = self.model.to_dict()
        return d


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    steps: int
    train_loss: float
    val_si_snr_db: float
    lr: float  # the rate after this epoch's scheduling: the one the next epoch trains at
    seconds: float
    noise_weights: dict[str, float] = field(default_factory=dict)  # this epoch's draw weights: runs resume with others
    precision: str = ""  # this epoch's arithmetic (bf16, fp16, fp32); "" in checkpoints older than the record
    # noise kind -> mean SI-SNR improvement (dB) of its validation files, by the corpus's record; {} without one
    val_gain_by_noise_db: dict[str, float] = field(default_factory=dict)
    # this epoch's loss terms and augmentation (loss_terms, AugmentConfig.to_dict): a --resume run takes its command
    # line's, so a run resumed with others has each on record where it trained; {} in checkpoints older than these
    loss: dict[str, float | None] = field(default_factory=dict)
    augment: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TrainResult:
    checkpoint: str
    steps: int
    epochs: int
    best_val_si_snr_db: float | None  # None: no validation files (the best checkpoint had the lowest training loss)
    minutes: float  # this run's, from its first epoch's start (loading data and model before it not counted)
    history: list[EpochRecord]
    # what was done to the stored audio (resampled, downmixed); a run stopped by --max-minutes says where
    notes: list[str] = field(default_factory=list)
    epochs_before: int = 0  # epochs of the history that earlier runs trained (this run resumed them)
    # the history's epochs' minutes (training and validation), a resumed run's earlier ones included
    epoch_minutes: float = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "epoch_minutes", sum(h.seconds for h in self.history) / 60)

    def to_dict(self) -> dict:
        return asdict(self)


def last_checkpoint_path(out: Path) -> Path:
    """Where the resumable state (weights + optimizer) of the latest epoch lives."""
    name = out.name.removesuffix(".wux.pt").removesuffix(".pt")
    return out.with_name(f"{name}.last.wux.pt")


def dc_error_db(estimate, clean):
    """Per-item DC error in dB above the clean audio's power: 10 log10(1 + (mean difference)^2 / clean power).
    Zero, with zero gradient, when the means match; SI-SNR and the level term cannot see or fix the offset."""
    import torch

    offset = (estimate.mean(-1) - clean.mean(-1)).pow(2)
    return 10 * torch.log10(1 + offset / (clean.pow(2).mean(-1) + EPS))


def loss_fn(estimate, clean, level_weight: float, snr_cap_db: float | None = None, dc_weight: float = 0.0):
    """-SI-SNR (softly capped at snr_cap_db), plus a small level term (SI-SNR alone leaves the output gain
    undetermined) and a DC term (it leaves the output's mean undetermined too)."""
    import torch

    loss = -si_snr_torch(estimate, clean, snr_cap_db).mean()
    if level_weight:
        ratio = (estimate.pow(2).sum(-1) + EPS) / (clean.pow(2).sum(-1) + EPS)
        loss = loss + level_weight * (10 * torch.log10(ratio)).abs().mean()
    if dc_weight:
        loss = loss + dc_weight * dc_error_db(estimate, clean).mean()
    return loss


def validation_si_snr(model, pairs, device: str) -> list[float]:
    """SI-SNR (dB) of each whole validation file run through the model."""
    import torch

    model.eval()
    scores = []
    with torch.inference_mode():
        for p in pairs:
            x = torch.from_numpy(p.noisy).to(device).view(1, 1, -1)
            scores.append(si_snr_db(model(x).float().cpu().numpy().reshape(-1), p.clean))
    model.train()
    return scores


def loss_terms(cfg: TrainConfig) -> dict[str, float | None]:
    """loss_fn's settings from the config, as keyword arguments: what the loss trains with is what each epoch
    records."""
    return {"level_weight": cfg.level_weight, "dc_weight": cfg.dc_weight, "snr_cap_db": cfg.snr_cap_db}


def gain_by_noise(pairs, scores: list[float], inputs: list[float], noise: dict[str, str]) -> dict[str, float]:
    """Mean SI-SNR improvement of the validation files of each noise kind the corpus's record names."""
    gains: dict[str, list[float]] = {}
    for pair, out, before in zip(pairs, scores, inputs):
        if pair.name in noise:
            gains.setdefault(noise[pair.name], []).append(out - before)
    return {kind: float(np.mean(g)) for kind, g in sorted(gains.items())}


def collate(batch):
    import torch

    clean = torch.from_numpy(np.stack([b[0] for b in batch])).unsqueeze(1)
    noisy = torch.from_numpy(np.stack([b[1] for b in batch])).unsqueeze(1)
    return clean, noisy


def tensorboard_writer(logdir: Path | None):
    if logdir is None:
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(logdir))


def training_dataset(cfg: TrainConfig, pairs: list, meta: Metadata) -> SegmentDataset:
    """The training segments; files drawn by length, times their noise kind's weight when cfg names any; with
    --fresh-babble, the babble files and speakers that new babble is made of (both by the corpus's record, `meta`)."""
    weights = noise_kind_weights(pairs, meta, cfg.noise_weights, cfg.data) if cfg.noise_weights else None
    babble = fresh_babble_pool(cfg, [p.name for p in pairs], meta)
    return SegmentDataset(pairs, cfg.segment, cfg.augment, seed=cfg.seed, segments_per_epoch=cfg.segments_per_epoch,
                          sample_rate=cfg.sample_rate, draw_weights=weights, babble=babble)


def fresh_babble_pool(cfg: TrainConfig, names: list[str], meta: Metadata) -> BabblePool | None:
    if not cfg.augment.fresh_babble:
        return None
    return babble_pool(names, meta, cfg.data, corpus_talkers(meta))


def is_cuda(device: str) -> bool:
    return device.startswith("cuda")


def mixed_precision(device: str, precision: str) -> str:
    """The arithmetic a run computes in ("fp32", "bf16" or "fp16"), or a WuxError for one the device cannot."""
    if precision not in TRAIN_PRECISIONS:
        raise WuxError(f"--precision must be one of {', '.join(TRAIN_PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        return "fp16" if is_cuda(device) else "fp32"
    if precision == "fp16" and not is_cuda(device):
        raise WuxError("--precision fp16 trains on CUDA only (it needs loss scaling on a GPU); on the CPU use bf16")
    return precision


def emulated_bf16_notes(device: str, arithmetic: str) -> list[str]:
    """bfloat16 on a CPU without bfloat16 instructions runs emulated: slower than float32, other last digits."""
    if arithmetic != "bf16" or is_cuda(device) or cpu_has_bf16() is not False:
        return []
    return [f"--precision bf16 on a CPU without bfloat16 instructions (none of {', '.join(CPU_BF16_FLAGS)} in "
            "/proc/cpuinfo): its arithmetic is emulated, slower than float32 here (perf/train_precision.py measures "
            "both), and its last digits differ from a run on a CPU that has them"]


def autocast(device: str, arithmetic: str):
    """The autocast context a forward pass runs in: bfloat16 or float16 where asked, a no-op for fp32."""
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(arithmetic)
    return torch.autocast("cuda" if is_cuda(device) else "cpu", dtype=dtype or torch.float32,
                          enabled=dtype is not None)


def check_device(device: str, arithmetic: str) -> None:
    import torch

    require_device(device)
    if is_cuda(device) and arithmetic == "bf16" and not torch.cuda.is_bf16_supported():
        raise WuxError("--precision bf16: this GPU has no bfloat16 arithmetic; use --precision auto (float16)")


def check_schedule(lr: float | None, patience: int, schedule: str) -> None:
    if lr is not None and not 0 < lr < math.inf:
        raise WuxError(f"--lr must be a positive, finite learning rate, got {lr}")
    if patience < 0:
        raise WuxError(f"--lr-patience must be 0 or more epochs, got {patience}")
    if schedule not in LR_SCHEDULES:
        raise WuxError(f"--lr-schedule must be one of {', '.join(LR_SCHEDULES)}, got {schedule!r}")


def check_restart(cfg: TrainConfig) -> None:
    if cfg.restart_lr and not cfg.resume:
        raise WuxError("--restart-lr sets a resumed run's rate back: it needs --resume (a new run starts at --lr)")
    if cfg.restart_lr and cfg.lr_schedule == COSINE:
        raise WuxError("--restart-lr sets a decayed rate back; --lr-schedule cosine sets each epoch's rate itself "
                       "(a new run with --init starts another cosine)")


def cosine_rate(lr: float, epoch: int, epochs: int) -> float:
    """The rate of 0-based epoch `epoch` of `epochs` on a half cosine from `lr` down to zero (zero at `epochs`)."""
    return 0.5 * lr * (1 + math.cos(math.pi * min(epoch, epochs) / epochs))


def schedule_next_epoch(cfg: TrainConfig, scheduler, optimizer, score: float, next_epoch: int, lr: float) -> None:
    """After an epoch: the plateau scheduler judges its score; the cosine sets the next epoch's rate (from `lr`,
    the rate the run was given)."""
    if cfg.lr_schedule == COSINE:
        set_learning_rate(optimizer, cosine_rate(lr, next_epoch, cfg.epochs))
    else:
        scheduler.step(score)


def check_one_batch(cfg: TrainConfig, segments: int) -> None:
    """Every batch of a smaller epoch would be dropped, or, with fewer batches than --accumulate, no step taken:
    the run would save a model it never trained."""
    more = "raise --segments-per-epoch" if cfg.segments_per_epoch else "a shorter --segment or more audio"
    if segments < cfg.batch_size:
        raise DataError(f"an epoch holds {segments} training segments, fewer than one batch of {cfg.batch_size}; "
                        f"lower --batch-size, or {more}", cfg.data)
    if segments // cfg.batch_size < cfg.accumulate:
        raise DataError(f"an epoch holds {segments // cfg.batch_size} batches of {cfg.batch_size}, fewer than "
                        f"--accumulate {cfg.accumulate}: no optimizer step would be taken; lower --accumulate, or "
                        f"{more}", cfg.data)


def check_counts(cfg: TrainConfig) -> None:
    """What the command line bounds, refused the same way when TrainConfig comes from Python."""
    counts = {"--epochs": cfg.epochs, "--batch-size": cfg.batch_size, "--accumulate": cfg.accumulate,
              "--segment": cfg.segment, "--segments-per-epoch": cfg.segments_per_epoch or 1}
    for flag, n in counts.items():
        if n < 1:
            raise WuxError(f"{flag} must be at least 1, got {n}")
    if not 0 <= cfg.val_share < 1:
        raise WuxError(f"--val-share must be at least 0 and below 1, got {cfg.val_share}")
    if cfg.snr_cap_db is not None and not math.isfinite(cfg.snr_cap_db):
        raise WuxError(f"--snr-cap must be a finite number of dB, got {cfg.snr_cap_db}")
    if not 0 <= cfg.augment.fresh_babble <= 1:
        raise WuxError(f"--fresh-babble is a chance, from 0 to 1, got {cfg.augment.fresh_babble}")
    low, high = SPEED_PERCENT_RANGE
    if not low <= cfg.augment.speed_percent <= high:
        raise WuxError(f"--speed-range is a percentage from {low:g} to {high:g}, got {cfg.augment.speed_percent}")


def training_names(cfg: TrainConfig) -> list[str]:
    """The training split's file names (their stems), listed without reading any audio."""
    return [clean.stem for clean, _ in list_pairs(cfg.data, "train")]


def read_noise_record_early(cfg: TrainConfig) -> Metadata:
    """The corpus's record, read (and a broken entry refused) before any audio is (minutes on a large corpus), and
    with it bad weights, a noise kind no training file has, and --fresh-babble on a corpus whose record cannot make
    it refused from the file names alone; training_dataset checks again on the files left after validation."""
    meta = read_metadata(cfg.data)
    if not cfg.noise_weights and not cfg.augment.fresh_babble:
        return meta
    names = training_names(cfg)
    if cfg.noise_weights:
        check_kind_weights(cfg.noise_weights)
        check_noise_kinds(meta, names, cfg.noise_weights, cfg.data, files="training file")
    fresh_babble_pool(cfg, names, meta)
    return meta


def resumable_state(cfg: TrainConfig) -> Checkpoint | None:
    """The .last checkpoint a --resume run goes on from (None without --resume), checked before any audio is read."""
    if not cfg.resume:
        return None
    path = last_checkpoint_path(cfg.out)
    if not path.exists():
        raise CheckpointError("--resume: no resumable checkpoint found", path)
    last = load_checkpoint(path)
    if not same_model(checkpoint_model(last), cfg.model) or not last.resume:
        raise CheckpointError("--resume: checkpoint does not match this model config", path)
    check_same_validation(cfg, last)
    check_same_schedule(cfg, last)
    return last


def check_same_schedule(cfg: TrainConfig, last: Checkpoint) -> None:
    """A resumed run moves its rate the way it did: a plateau run put on the cosine would jump back up its curve,
    a cosine run put on plateaus would go on at the curve's last rate (zero at its end)."""
    was = last.training.get("train", {}).get("lr_schedule", PLATEAU)  # records older than the cosine: plateau
    if was != cfg.lr_schedule:
        raise CheckpointError(f"--resume: this run scheduled its rate with --lr-schedule {was}; resume with it (a "
                              f"new run with --init starts another schedule)", last_checkpoint_path(cfg.out))


VALIDATION_FLAGS = (("--val-share", "val_share"), ("--val-by", "val_by"))  # option, its key in a run's record


def recorded_validation(run: dict[str, Any]) -> dict[str, Any]:
    """The --val-share and --val-by a run's training record says it held out its validation files with (only those
    it records: a run begun before an option existed does not)."""
    return {flag: run[key] for flag, key in VALIDATION_FLAGS if key in run}


def check_same_validation(cfg: TrainConfig, last: Checkpoint) -> None:
    """A resumed run holds out the files it held out before: other ones would score it, and pick its best
    checkpoint, on files it trained on."""
    now = {"--val-share": cfg.val_share, "--val-by": cfg.val_by}
    was = {**now, **recorded_validation(last.training.get("train", {}))}
    if was != now:
        said = " ".join(f"{flag} {value}" for flag, value in was.items())
        raise CheckpointError(f"--resume: this run validated with {said}; held out otherwise, it would be scored on "
                              "files it trained on: resume with those", last_checkpoint_path(cfg.out))


def held_out_record(held: list[str]) -> dict:
    """How many validation files, and their names (one per file pair, a stem two pairs share twice) as one sha256:
    what a resumed run checks it holds out again."""
    names = "\n".join(sorted(held))
    return {"files": len(held), "sha256": hashlib.sha256(names.encode()).hexdigest()}


def check_same_held_out(cfg: TrainConfig, last: Checkpoint | None, held_out: dict) -> None:
    """With the same --val-share and --val-by (check_same_validation), a resumed run still holds out other files
    when the data folder changed since it began (files added or removed, a record of voices that no longer reads):
    scored on those, its best checkpoint would be picked on files it trained on. Runs begun before the record
    was kept are not checked."""
    was = (last.resume or {}).get("held_out") if last is not None else None
    if was is None or was == held_out:
        return
    raise CheckpointError(f"--resume: this run held out {was['files']} validation file(s), and the same options now "
                          f"hold out {held_out['files']} that are not the same (the data folder's files or its record "
                          "changed since the run began); scored on them, it would be judged on files it trained on: "
                          "resume on the data it began with", last_checkpoint_path(cfg.out))


def model_to_train(preset: str | None, config: Path | None, init: Path | None, factory: str | None = None,
                   kwargs: dict | None = None) -> WaveUNetConfig | UserModel:
    """--config (over --preset), or --model with --model-kwargs, or --init's checkpoint's model, else --preset
    (default "default"). --init with --preset or --config grows the checkpoint's Wave-U-Net into that one."""
    if init is not None and factory:
        raise WuxError("--init trains the checkpoint's own model (or one grown from it, by --preset or --config): "
                       "leave out --model")
    if factory is not None and (preset or config):
        raise WuxError("--model names the model to train: leave out --preset and --config")
    if kwargs is not None and factory is None:  # an empty object too: given, and not used
        raise WuxError(KWARGS_WITHOUT_MODEL)
    if factory is not None:
        return UserModel(factory, dict(kwargs or {}))
    if config is not None:
        return load_config_json(config)
    if init is not None and not preset:
        return checkpoint_model(load_checkpoint(init))
    return get_preset(preset or "default")


def checkpoint_model(ckpt: Checkpoint) -> WaveUNetConfig | UserModel:
    return ckpt.config if ckpt.config is not None else ckpt.user


def same_model(a: WaveUNetConfig | UserModel, b: WaveUNetConfig | UserModel) -> bool:
    """Same architecture: config, or callable (a file's path resolved and its bytes hashed) and kwargs."""
    return type(a) is type(b) and a.to_dict() == b.to_dict()


@dataclass
class Trainee:
    """What a run trains: the module the loop calls ([batch, 1, samples] both ways), the module whose weights
    are saved, and a callable model's audio contract (recorded in its checkpoints)."""

    module: Any
    raw: Any
    contract: dict[str, Any] | None = None


def build_trainee(cfg: TrainConfig, start: Checkpoint | None) -> Trainee:
    """The model, with the starting weights when --init gives some. A callable model is loaded the way every
    command loads one (its contract declared, recorded or measured), in the adapter its layout needs."""
    if isinstance(cfg.model, WaveUNetConfig):
        module = build_model(cfg.model)
        if start is not None:
            load_start(module, cfg, start)
        return Trainee(module, module)
    # a model that states no rate works at the data's; one that states another is refused below
    loaded = model_of_checkpoint(start) if start is not None else load_model(ModelSource(
        factory=cfg.model.factory, kwargs=dict(cfg.model.kwargs), declared={"sample_rate": cfg.sample_rate}))
    rate = stated_sample_rate(loaded.raw_module()) or loaded.contract.sample_rate
    if rate != cfg.sample_rate:
        raise WuxError(f"{cfg.model.factory} works at {rate} Hz; this run trains at {cfg.sample_rate} Hz")
    return Trainee(loaded.module, loaded.raw_module(), {**loaded.contract.to_dict(), **loaded.layout.to_dict()})


def checkpoint_of(cfg: TrainConfig, trainee: Trainee, training: dict) -> Checkpoint:
    """The trained weights now, as a checkpoint of the model's family."""
    state = {k: v.detach().cpu().clone() for k, v in trainee.raw.state_dict().items()}
    if isinstance(cfg.model, WaveUNetConfig):
        return Checkpoint(state, cfg.model, sample_rate=cfg.sample_rate, training=training)
    return Checkpoint(state, user=cfg.model, contract=trainee.contract, sample_rate=cfg.sample_rate,
                      training=training)


def load_start(module, cfg: TrainConfig, start: Checkpoint) -> None:
    """--init's weights into the Wave-U-Net: as they are, or grown into it (initial_state checked which)."""
    if same_model(start.config, cfg.model):
        module.load_state_dict(start.state_dict)
        return
    try:
        load_grown(module, start.state_dict, start.config)
    except ConfigError as e:
        raise CheckpointError(f"--init: {e}", start.path) from None


def grown(cfg: TrainConfig, start: Checkpoint) -> bool:
    """This run trains the --init checkpoint's Wave-U-Net grown (wux.model.grow); refused where it cannot train."""
    if start.config is None and not same_model(start.user, cfg.model):
        raise CheckpointError("--init: a callable model's checkpoint trains as itself: leave out --preset and "
                              "--config", start.path)
    if not (isinstance(cfg.model, WaveUNetConfig) and start.config is not None
            and grows_from(cfg.model, start.config)):
        return False
    try:
        check_growable(cfg.model, start.config)
    except ConfigError as e:
        raise CheckpointError(f"--init: {e}", start.path) from None
    return True


def initial_state(cfg: TrainConfig) -> Checkpoint | None:
    """The checkpoint a --init run starts from (None without --init), checked before any audio is read."""
    if cfg.init is None:
        return None
    if Path(cfg.init).resolve() == Path(cfg.out).resolve():
        raise CheckpointError("--init and --out are the same file: the run would overwrite where it started; "
                              "write to another --out", cfg.out)
    start = load_checkpoint(cfg.init)
    if not same_model(checkpoint_model(start), cfg.model) and not grown(cfg, start):
        raise CheckpointError("--init: checkpoint does not match this model config (a config grown from it may "
                              "only widen levels or the bottleneck and append bottleneck dilations)", start.path)
    if start.sample_rate != cfg.sample_rate:
        raise CheckpointError(f"--init: checkpoint is for {start.sample_rate} Hz audio, this run trains at "
                              f"{cfg.sample_rate} Hz", start.path)
    return start


def check_finite_weights(model, epoch: int, lr: float, last_path: Path) -> None:
    """Stop a diverged run before it is validated or saved: its best and .last checkpoints stay as the last good
    epoch left them."""
    import torch

    if all(bool(torch.isfinite(p).all()) for p in model.parameters()):
        return
    then = (f"{last_path} holds the last good epoch: --resume with a lower --lr" if last_path.exists()
            else "nothing was saved: train again with a lower --lr")
    raise WuxError(f"training diverged in epoch {epoch} at learning rate {lr:g}: the weights are no longer finite "
                   f"numbers; {then}")


def given_learning_rate(last: Checkpoint) -> float | None:
    """The rate a run was last given (--lr or the default), as its checkpoint records it."""
    return last.training.get("train", {}).get("lr")


def resumed_learning_rate(asked: float | None, given: float | None, restart: bool = False) -> float | None:
    """The rate a resumed run switches to, None to keep the optimizer's own (decayed) one. Only a rate other than
    the one the run was last given replaces it: re-running a command with --resume added goes on as it was.
    `restart` (--restart-lr) sets the asked rate, or else the given one, back even when it is the same."""
    if restart:
        return asked if asked is not None else given
    return asked if asked is not None and asked != given else None


def check_same_start(last: Checkpoint | None, start: Checkpoint | None) -> None:
    """--resume with --init (a recorded fine-tuning command re-run): the run must have started from that file."""
    if last is None or start is None:
        return
    if last.training.get("init_sha256") != start.sha256:
        raise CheckpointError(f"--resume: this run did not start from --init {start.path}", last.path)


def starting_point(start: Checkpoint | None, last: Checkpoint | None) -> dict:
    """What a run's weights began as, recorded in every checkpoint it writes (a resumed run keeps its own)."""
    if last is not None:
        return {k: last.training[k] for k in ("init_sha256",) if k in last.training}
    return {"init_sha256": start.sha256} if start is not None else {}


def restore_loss_scale(scaler, resume: dict) -> None:
    """float16's loss scale goes on where the run left it (a fresh scaler starts at 65536 and backs off again,
    skipping steps); a run that trained in another arithmetic left none."""
    if scaler.is_enabled() and resume.get("scaler"):
        scaler.load_state_dict(resume["scaler"])


def restore_random_state(resume: dict) -> None:
    """torch's own generator goes on where the run left it, so dropout (and anything else a model draws) draws
    what the run straight through would have; a checkpoint written before wux saved it has none. Crops and
    augmentation draw from their own (seed, epoch, index) generators."""
    import torch

    if resume.get("torch_rng") is not None:
        torch.set_rng_state(resume["torch_rng"])


def set_learning_rate(optimizer, lr: float) -> None:
    """Every parameter group's rate; the plateau scheduler goes on halving from it."""
    for group in optimizer.param_groups:
        group["lr"] = lr


def check_outputs(cfg: TrainConfig) -> None:
    """A new run's best and .last checkpoints replace no file unless --force (a resumed run goes on writing its
    own), are not the data or the starting weights, and can be written."""
    if cfg.resume and cfg.force:
        raise WuxError("--force lets a new run replace checkpoints; a --resume run goes on writing its own: leave out "
                       "--force")
    inputs = [cfg.data, cfg.init if cfg.init and Path(cfg.init).exists() else None]
    for path in (cfg.out, last_checkpoint_path(cfg.out)):
        if cfg.resume:
            refuse_replacing_inputs(path, inputs)
            check_writable(path)
        else:
            check_new_file(path, cfg.force, inputs)


@dataclass(frozen=True)
class BeforeReading:
    """What train() settles before it reads any audio."""
    arithmetic: str  # bf16, fp16 or fp32
    last: Checkpoint | None  # the .last checkpoint a --resume run goes on from
    start: Checkpoint | None  # the --init checkpoint a new run starts from
    meta: Metadata  # the corpus's record


def checks_before_reading(cfg: TrainConfig) -> BeforeReading:
    """Every refusal that needs no audio, so a bad option costs no loading time: the arithmetic, the corpus's
    record, the resume state and the starting weights."""
    check_schedule(cfg.lr, cfg.lr_patience, cfg.lr_schedule)
    check_restart(cfg)
    check_counts(cfg)
    arithmetic = mixed_precision(cfg.device, cfg.precision)
    check_device(cfg.device, arithmetic)
    if cfg.tensorboard is not None:
        require("tensorboard")  # torch.utils.tensorboard writes nothing without it: say so, do not skip silently
    meta = read_noise_record_early(cfg)
    last, start = resumable_state(cfg), initial_state(cfg)
    check_same_start(last, start)
    check_outputs(cfg)
    return BeforeReading(arithmetic, last, start, meta)


def train(cfg: TrainConfig, show_progress: bool = True,
          on_epoch: Callable[[EpochRecord, int, bool], None] | None = None,
          say: Callable[[str], None] | None = None) -> TrainResult:
    """Train as `cfg` says; after each epoch `on_epoch(record, epochs, improved)` (improved: saved as the best).
    `say` is told, once the run is accepted and before it reads its data, the notes hours of training should not
    wait for (bfloat16 emulated); the result's notes keep them too."""
    import torch

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    ready = checks_before_reading(cfg)
    arithmetic, last, start, meta = ready.arithmetic, ready.last, ready.start, ready.meta
    emulated = emulated_bf16_notes(cfg.device, arithmetic)  # said now, and kept in the result's notes
    for note in emulated if say else ():
        say(note)
    torch.manual_seed(cfg.seed)
    trainee = build_trainee(cfg, start)  # a callable that fails to import or build fails before any audio is read
    listed = list_pairs(cfg.data, "train")  # listed once: the held-out names and the pairs read are the same files
    names = [clean.stem for clean, _ in listed]
    held = held_out_names(names, cfg.val_share, cfg.val_by, meta.speaker)
    held_out = held_out_record([name for name in names if name in held])
    check_same_held_out(cfg, last, held_out)  # from the names: a refused resume loads no audio
    pairs = read_pairs(listed, cfg.sample_rate)
    train_pairs, val_pairs = split_held(pairs, held)
    dataset = training_dataset(cfg, train_pairs, meta)
    check_one_batch(cfg, len(dataset))
    val_inputs = [si_snr_db(p.noisy, p.clean) for p in val_pairs]  # the noisy files' own scores, once

    model = trainee.module.to(cfg.device)
    given_lr = cfg.lr or DEFAULT_LR
    optimizer = torch.optim.Adam(model.parameters(), lr=given_lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=0.5,
                                                           patience=cfg.lr_patience)
    scaler = torch.amp.GradScaler("cuda", enabled=arithmetic == "fp16")  # bfloat16 has float32's range: no scaling
    start_epoch, step, best, history = 0, 0, -math.inf, []
    if last is not None:
        trainee.raw.load_state_dict(last.state_dict)
        optimizer.load_state_dict(last.resume["optimizer"])
        scheduler.load_state_dict(last.resume["scheduler"])
        restore_loss_scale(scaler, last.resume)
        restore_random_state(last.resume)
        scheduler.patience = cfg.lr_patience  # the state restores the old run's; this run's command line decides
        start_epoch, step = int(last.resume["epoch"]), int(last.resume["step"])
        kept = last.training.get("best_score", last.training.get("best_val_si_snr_db"))
        best = -math.inf if kept is None else float(kept)
        history = [EpochRecord(**h) for h in last.resume.get("history", [])]
        previous = given_learning_rate(last)
        new_lr = resumed_learning_rate(cfg.lr, previous, cfg.restart_lr)
        if new_lr is not None:
            set_learning_rate(optimizer, new_lr)
            scheduler.num_bad_epochs = 0  # the new rate gets its full patience before it halves
        given_lr = new_lr or previous or given_lr
    if cfg.lr_schedule == COSINE:
        set_learning_rate(optimizer, cosine_rate(given_lr, start_epoch, cfg.epochs))
    recorded = replace(cfg, lr=given_lr, precision=arithmetic)  # what ran, not "auto" or None
    last_path = last_checkpoint_path(cfg.out)
    origin = starting_point(start, last)

    writer = tensorboard_writer(cfg.tensorboard)
    loader = torch.utils.data.DataLoader(dataset, batch_size=cfg.batch_size, shuffle=False,
                                         collate_fn=collate, drop_last=True)
    t_start = time.monotonic()
    out_of_time = False
    model.train()

    def optimizer_step() -> None:  # on the gradients summed since the last one, then cleared for the next
        if cfg.clip_grad_norm:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad_norm)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)

    terms = loss_terms(cfg)
    for epoch in range(start_epoch, cfg.epochs):
        dataset.epoch = epoch
        t_epoch, losses = time.monotonic(), []
        pending = 0  # batches whose gradients are summed but not yet stepped on
        with progress_bar(f"epoch {epoch + 1}/{cfg.epochs}", len(loader), show_progress,
                          lines=False) as advance:  # off a terminal: the epoch lines
            for clean, noisy in loader:
                clean, noisy = clean.to(cfg.device), noisy.to(cfg.device)
                with autocast(cfg.device, arithmetic):
                    loss = loss_fn(model(noisy).float(), clean, **terms) / cfg.accumulate
                scaler.scale(loss).backward()
                pending += 1
                if pending == cfg.accumulate:
                    optimizer_step()
                    step, pending = step + 1, 0
                losses.append(loss.item() * cfg.accumulate)
                advance(loss=f"{losses[-1]:.2f}")
                if writer:
                    writer.add_scalar("train/loss", losses[-1], step)
                if cfg.max_minutes and time.monotonic() - t_start > cfg.max_minutes * 60:
                    out_of_time = True
                    break
            if pending:  # the epoch's last few batches (fewer than --accumulate) are not thrown away
                optimizer_step()
                step += 1
        check_finite_weights(model, epoch + 1, optimizer.param_groups[0]["lr"], last_path)
        scores = validation_si_snr(model, val_pairs, cfg.device)
        val = float(np.mean(scores)) if scores else float("nan")
        score = val if not math.isnan(val) else -float(np.mean(losses))
        schedule_next_epoch(cfg, scheduler, optimizer, score, epoch + 1, given_lr)
        record = EpochRecord(epoch + 1, step, float(np.mean(losses)), val,
                             optimizer.param_groups[0]["lr"], time.monotonic() - t_epoch, dict(cfg.noise_weights),
                             arithmetic, gain_by_noise(val_pairs, scores, val_inputs, meta.noise), dict(terms),
                             cfg.augment.to_dict())
        history.append(record)
        if writer:
            writer.add_scalar("val/si_snr_db", val, step)
            for kind, gain in record.val_gain_by_noise_db.items():
                writer.add_scalar(f"val/gain_db/{kind}", gain, step)
        improved = score > best
        best = max(best, score)
        training = {"steps": step, "epochs": epoch + 1, "best_val_si_snr_db": best if val_pairs else None,
                    "best_score": best, "best_by": "validation SI-SNR dB" if val_pairs else "minus training loss",
                    "train": recorded.to_dict(), "history": [asdict(h) for h in history], **origin}
        ckpt = checkpoint_of(cfg, trainee, training)  # the weights copied once, for both files
        if improved:
            save_checkpoint(ckpt, cfg.out)
        save_checkpoint(replace(
            ckpt, resume={"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                          "scaler": scaler.state_dict(), "torch_rng": torch.get_rng_state(),
                          "epoch": epoch + 1, "step": step, "held_out": held_out,
                          "history": [asdict(h) for h in history]},
        ), last_path)
        if on_epoch:
            on_epoch(record, cfg.epochs, improved)
        if out_of_time:
            break
    if writer:
        writer.close()
    cut_short = [cut_short_note(cfg, history)] if out_of_time and history[-1].epoch < cfg.epochs else []
    notes = (conversion_notes(pairs, cfg.sample_rate) + unread_record_notes(meta) + cut_short
             + emulated)
    return TrainResult(str(cfg.out), step, len(history), best if val_pairs else None,
                       (time.monotonic() - t_start) / 60, history, notes, start_epoch)


def cut_short_note(cfg: TrainConfig, history: list[EpochRecord]) -> str:
    """What a run stopped by --max-minutes leaves: its rate has not come down as --epochs planned."""
    done, rate = history[-1].epoch, history[-1].lr
    rest = (f"the cosine reaches zero at epoch {cfg.epochs}: --resume goes on down it" if cfg.lr_schedule == COSINE
            else "--resume goes on from there")
    return f"stopped by --max-minutes after epoch {done} of {cfg.epochs}, at a rate of {rate:.2g} ({rest})"
