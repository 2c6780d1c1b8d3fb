import json
import math
import shutil

import numpy as np
import pytest
import torch

from wux.data.augment import AugmentConfig
from wux.data.dataset import SegmentDataset
from wux.errors import CheckpointError, WuxError
from wux.metrics import si_snr_db, si_snr_torch
from wux.model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from wux.model.config import TINY, WaveUNetConfig
from wux.model.load import ModelSource
from wux.model.stft_mask import StftMask
from wux.model.user import UserModel
from wux.model.waveunet import WaveUNet
from wux.quality.evaluate import evaluate
from wux.train import DEFAULT_LR, loop
from wux.train.loop import (
    TrainConfig,
    autocast,
    cosine_rate,
    dc_error_db,
    held_out_record,
    initial_state,
    last_checkpoint_path,
    loss_fn,
    mixed_precision,
    model_to_train,
    restore_loss_scale,
    train,
)


def test_si_snr_numpy_and_torch_agree_and_are_scale_invariant():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal(4000)
    est = ref + 0.1 * rng.standard_normal(4000)
    expected = si_snr_db(est, ref)
    assert 19 < expected < 21  # noise 20 dB below the signal
    assert si_snr_db(3.0 * est, ref) == pytest.approx(expected, abs=1e-9)
    t = si_snr_torch(torch.tensor(est[None]), torch.tensor(ref[None]))
    assert t.item() == pytest.approx(expected, abs=1e-6)


def test_a_few_steps_lower_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    model = WaveUNet(WaveUNetConfig(levels=2, growth=8))
    rng = np.random.default_rng(0)
    t = np.arange(4096) / 16000
    clean = torch.tensor(np.stack([0.3 * np.sin(2 * np.pi * f * t) for f in (200, 330, 470, 610)]),
                         dtype=torch.float32).unsqueeze(1)
    noisy = clean + 0.1 * torch.tensor(rng.standard_normal(clean.shape), dtype=torch.float32)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = loss_fn(model(noisy), clean, 0.1)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 3.0  # at least 3 dB of SI-SNR gained


def test_level_term_penalises_wrong_gain():
    clean = torch.randn(2, 1, 1000)
    estimate = clean + 0.1 * torch.randn(2, 1, 1000)
    # same SI-SNR, but 4x the amplitude is 12 dB too loud: 0.1 * 12 dB more loss
    gap = loss_fn(estimate * 4, clean, 0.1).item() - loss_fn(estimate, clean, 0.1).item()
    assert gap == pytest.approx(1.2, abs=0.05)


def test_dc_term_prices_an_offset_that_si_snr_and_the_level_term_do_not():
    torch.manual_seed(0)
    clean = torch.randn(2, 1, 1000)
    estimate = clean + 0.1 * torch.randn(2, 1, 1000)
    shifted = estimate + 0.3
    assert loss_fn(shifted, clean, 0.0).item() == pytest.approx(loss_fn(estimate, clean, 0.0).item(), abs=1e-4)
    expected = (10 * torch.log10(1 + (shifted.mean(-1) - clean.mean(-1)).pow(2) / clean.pow(2).mean(-1))).mean()
    gap = loss_fn(shifted, clean, 0.0, dc_weight=2.0).item() - loss_fn(shifted, clean, 0.0).item()
    assert gap == pytest.approx(2 * expected.item(), rel=1e-4)
    assert dc_error_db(estimate - estimate.mean(-1, keepdim=True) + clean.mean(-1, keepdim=True), clean).max() < 1e-6


def test_training_with_the_dc_term_removes_an_output_offset_and_without_it_leaves_it():
    torch.manual_seed(0)
    clean = torch.randn(4, 1, 2000)
    estimate = clean + 0.2 * torch.randn(4, 1, 2000)
    left = {}
    for weight in (0.0, 1.0):
        offset = torch.nn.Parameter(torch.tensor(0.5))
        opt = torch.optim.SGD([offset], lr=0.1)  # Adam would blow float noise in a zero gradient up to its rate
        for _ in range(100):
            opt.zero_grad()
            loss_fn(estimate + offset, clean, 0.0, dc_weight=weight).backward()
            opt.step()
        left[weight] = abs(offset.item() + (estimate - clean).mean().item())
    assert left[1.0] < 0.02  # within 2 % of full scale of the clean mean, from 0.5
    assert left[0.0] > 0.49  # SI-SNR cannot see it: no gradient moves it


def test_the_capped_si_snr_stops_at_its_cap_and_pulls_on_what_is_far_below_it():
    torch.manual_seed(0)
    ref = torch.randn(3, 16000)
    assert si_snr_torch(ref, ref, 20.0) == pytest.approx(torch.full((3,), 20.0), abs=1e-3)  # perfect: the cap
    for snr, pull in ((5, 0.97), (20, 0.5), (35, 0.03)):  # gradient kept: 1 / (1 + 10^((snr - cap) / 10))
        est = (ref + 10 ** (-snr / 20) * torch.randn(3, 16000)).requires_grad_()
        si_snr_torch(est, ref).mean().backward()
        plain, est.grad = est.grad.norm(), None
        si_snr_torch(est, ref, 20.0).mean().backward()
        assert (est.grad.norm() / plain).item() == pytest.approx(pull, abs=0.01), snr
    far = ref + torch.randn(3, 16000)  # 0 dB: the cap barely matters
    assert si_snr_torch(far, ref, 20.0) == pytest.approx(si_snr_torch(far, ref), abs=0.05)


def test_the_snr_cap_is_the_runs_own_and_a_non_finite_one_is_refused(tiny_corpus, tmp_path):
    for cap in (math.inf, math.nan):
        cfg = TrainConfig(data=tiny_corpus, out=tmp_path / "m.wux.pt", model=TINY, snr_cap_db=cap)
        with pytest.raises(WuxError, match="--snr-cap must be a finite number of dB"):
            train(cfg, show_progress=False)
    assert not list(tmp_path.iterdir())
    cfg = TrainConfig(data=tiny_corpus, out=tmp_path / "m.wux.pt", model=TINY, epochs=1, batch_size=4,
                      segment=2048, val_share=0.34, augment=AugmentConfig.off(), seed=0, snr_cap_db=15.0)
    train(cfg, show_progress=False)
    assert load_checkpoint(cfg.out).training["train"]["snr_cap_db"] == 15.0


def test_train_eval_and_resume(tiny_corpus, tmp_path):
    out = tmp_path / "m.wux.pt"
    cfg = TrainConfig(data=tiny_corpus, out=out, model=TINY, epochs=2, batch_size=4, segment=2048,
                      val_share=0.34, augment=AugmentConfig.off(), seed=0)
    result = train(cfg, show_progress=False)
    assert result.epochs == 2 and result.steps > 0 and len(result.history) == 2
    ckpt = load_checkpoint(out)
    assert ckpt.training["steps"] == result.steps
    assert ckpt.training["best_val_si_snr_db"] == pytest.approx(max(h.val_si_snr_db for h in result.history))
    assert ckpt.resume is None  # the best checkpoint carries no optimizer state
    last = load_checkpoint(last_checkpoint_path(out))
    assert last.resume["epoch"] == 2

    assert result.epoch_minutes <= result.minutes and result.epochs_before == 0  # its epochs lie inside its time
    resumed = train(TrainConfig(**{**cfg.__dict__, "epochs": 3, "resume": True}), show_progress=False)
    assert [h.epoch for h in resumed.history] == [1, 2, 3] and resumed.epochs_before == 2
    assert resumed.steps > result.steps
    # its own minutes are its third epoch's run; its epochs' minutes count the first run's two as well
    assert resumed.epoch_minutes == pytest.approx(result.epoch_minutes + resumed.history[-1].seconds / 60)
    assert resumed.to_dict()["epoch_minutes"] == resumed.epoch_minutes

    report = evaluate(ModelSource(checkpoint=out), tiny_corpus, "test", show_progress=False)
    assert report.files == 6
    assert math.isfinite(report.output_si_snr_db_mean)
    assert report.si_snr_improvement_db_mean == pytest.approx(
        report.output_si_snr_db_mean - report.input_si_snr_db_mean, abs=1e-9)


def test_a_run_stopped_by_its_time_limit_says_where_its_rate_was_left(tiny_corpus, tmp_path):
    cfg = TrainConfig(data=tiny_corpus, out=tmp_path / "m.wux.pt", model=TINY, epochs=3, batch_size=4, segment=2048,
                      val_share=0.34, augment=AugmentConfig.off(), lr_schedule="cosine", max_minutes=1e-9)
    result = train(cfg, show_progress=False)
    assert result.epochs == 1  # stopped after its first step, the epoch validated and saved
    rate = result.history[-1].lr
    assert rate == pytest.approx(0.75 * DEFAULT_LR)  # a third of the way down the half cosine, far from zero
    assert f"stopped by --max-minutes after epoch 1 of 3, at a rate of {rate:.2g} (the cosine reaches zero at " \
           f"epoch 3: --resume goes on down it)" in result.notes
    last = train(TrainConfig(**{**cfg.__dict__, "out": tmp_path / "n.wux.pt", "epochs": 1}), show_progress=False)
    assert last.epochs == 1  # stopped in its last epoch: nothing was cut short
    assert not any("max-minutes" in note for note in last.notes)


def test_a_run_on_a_broken_corpus_record_says_it_trained_without_it(tiny_corpus, tmp_path):
    """Validation voices by file name, no per-kind validation: the result says the record could not be read."""
    corpus = tmp_path / "corpus"
    shutil.copytree(tiny_corpus, corpus)
    (corpus / "corpus.json").write_text('{"utterances": "p1"}')
    cfg = TrainConfig(data=corpus, out=tmp_path / "m.wux.pt", model=TINY, epochs=1, batch_size=4, segment=2048,
                      val_share=0.34, augment=AugmentConfig.off())
    result = train(cfg, show_progress=False)
    assert result.notes == [f"{corpus / 'corpus.json'}: not a list of files, so its noise kinds, "
                            "SNRs, speakers and rooms are not used"]
    assert result.history[-1].val_gain_by_noise_db == {}


def test_a_new_run_replaces_no_checkpoint_unless_forced(tiny_corpus, tmp_path):
    out = tmp_path / "m.wux.pt"
    cfg = TrainConfig(data=tiny_corpus, out=out, model=TINY, epochs=1, batch_size=4, segment=2048, val_share=0.34,
                      augment=AugmentConfig.off())
    for existing in (out, last_checkpoint_path(out)):  # a previous run's best or last checkpoint
        existing.write_bytes(b"hours of training")
        with pytest.raises(WuxError, match="already exists; use --force to replace it"):
            train(cfg, show_progress=False)
        assert existing.read_bytes() == b"hours of training"
        existing.unlink()
    out.mkdir()
    with pytest.raises(WuxError, match="is a folder; give a file name"):
        train(cfg, show_progress=False)
    out.rmdir()
    out.write_bytes(b"an old run")
    train(TrainConfig(**{**cfg.__dict__, "force": True}), show_progress=False)
    assert load_checkpoint(out).training["steps"] > 0
    with pytest.raises(WuxError, match="a --resume run goes on writing its own: leave out --force"):
        train(TrainConfig(**{**cfg.__dict__, "force": True, "resume": True}), show_progress=False)


def test_noise_kind_weights_come_from_the_corpus_record_and_are_recorded(tmp_path):
    import json

    from tests.conftest import write_corpus
    from wux.data.dataset import load_pairs
    from wux.data.layout import read_metadata
    from wux.errors import DataError
    from wux.train.loop import training_dataset

    corpus = write_corpus(tmp_path / "corpus", files=4)
    cfg = TrainConfig(data=corpus, out=tmp_path / "m.wux.pt", model=TINY, epochs=1, batch_size=2, segment=2048,
                      segments_per_epoch=4, val_share=0.0, augment=AugmentConfig.off(),
                      noise_weights={"babble": 4.0})
    with pytest.raises(DataError, match="this folder has none") as missing:  # refused before any step
        train(cfg, show_progress=False)
    assert str(corpus) in str(missing.value) and not cfg.out.exists()
    names = [p.stem for p in sorted((corpus / "clean_trainset_wav").iterdir())]
    (corpus / "corpus.json").write_text(json.dumps({"utterances": [
        {"name": n, "noise": "babble" if i == 0 else "hum"} for i, n in enumerate(names)]}))
    pairs = load_pairs(corpus, "train")
    meta = read_metadata(corpus)
    drawn = training_dataset(cfg, pairs, meta).weights  # equal lengths: babble 4 of 7, each hum file 1 of 7
    assert drawn == pytest.approx([4 / 7, 1 / 7, 1 / 7, 1 / 7])
    assert training_dataset(TrainConfig(**{**cfg.__dict__, "noise_weights": {}}), pairs, meta).weights == pytest.approx(
        [1 / 4] * 4)

    result = train(cfg, show_progress=False)
    assert result.steps == 2
    assert load_checkpoint(cfg.out).training["train"]["noise_weights"] == {"babble": 4.0}
    # a run resumed with other weights: each epoch records its own, so the mix a model saw is on record
    resumed = train(TrainConfig(**{**cfg.__dict__, "epochs": 2, "resume": True, "noise_weights": {}}),
                    show_progress=False)
    assert [h.noise_weights for h in resumed.history] == [{"babble": 4.0}, {}]


def test_validation_is_also_scored_per_noise_kind(tmp_path, capsys):
    import json

    from tests.conftest import write_corpus
    from wux import render
    from wux.data.dataset import load_pairs, split_validation

    corpus = write_corpus(tmp_path / "corpus", files=6)
    names = [p.stem for p in sorted((corpus / "clean_trainset_wav").iterdir())]
    kinds = {n: ("babble", "hum", "hum")[i % 3] for i, n in enumerate(names)}
    (corpus / "corpus.json").write_text(json.dumps({"utterances": [{"name": n, "noise": k} for n, k in kinds.items()]}))
    cfg = TrainConfig(data=corpus, out=tmp_path / "m.wux.pt", model=TINY, epochs=1, batch_size=2, segment=2048,
                      segments_per_epoch=4, val_share=0.5, augment=AugmentConfig.off())
    result = train(cfg, show_progress=False)
    _, held = split_validation(load_pairs(corpus, "train"), 0.5)
    gains = result.history[-1].val_gain_by_noise_db
    assert sorted(gains) == sorted({kinds[p.name] for p in held})
    # the kinds' file-weighted gains add up to the overall validation score less the noisy files' own
    counts = {k: sum(kinds[p.name] == k for p in held) for k in gains}
    overall = sum(gains[k] * counts[k] for k in gains) / len(held)
    before = float(np.mean([si_snr_db(p.noisy, p.clean) for p in held]))
    assert overall == pytest.approx(result.history[-1].val_si_snr_db - before, abs=1e-6)
    render.training(result)
    assert "validation SI-SNR improvement by noise kind: " in capsys.readouterr().out


def test_precision_resolves_per_device_and_refuses_what_the_device_cannot():
    assert mixed_precision("cpu", "auto") == "fp32" and mixed_precision("cuda", "auto") == "fp16"
    assert mixed_precision("cpu", "bf16") == "bf16" and mixed_precision("cuda:0", "fp32") == "fp32"
    with pytest.raises(WuxError, match="fp16 trains on CUDA only"):
        mixed_precision("cpu", "fp16")
    with pytest.raises(WuxError, match="must be one of"):
        mixed_precision("cpu", "int8")


def test_autocast_computes_in_the_arithmetic_asked_for():
    conv, x = torch.nn.Conv1d(1, 4, 3), torch.randn(2, 1, 64)
    dtypes = {}
    for arithmetic in ("bf16", "fp32"):
        with autocast("cpu", arithmetic):
            dtypes[arithmetic] = conv(x).dtype
    assert dtypes == {"bf16": torch.bfloat16, "fp32": torch.float32}


def test_bf16_training_keeps_float32_weights_and_records_its_arithmetic(tiny_corpus, tmp_path):
    out = tmp_path / "m.wux.pt"
    cfg = TrainConfig(data=tiny_corpus, out=out, model=TINY, epochs=1, batch_size=4, segment=2048,
                      val_share=0.34, augment=AugmentConfig.off(), seed=0, precision="bf16")
    result = train(cfg, show_progress=False)
    assert result.steps > 0 and math.isfinite(result.best_val_si_snr_db)
    assert [h.precision for h in result.history] == ["bf16"]
    ckpt = load_checkpoint(out)
    assert ckpt.training["train"]["precision"] == "bf16"
    assert {v.dtype for v in ckpt.state_dict.values() if v.is_floating_point()} == {torch.float32}
    assert load_checkpoint(last_checkpoint_path(out)).resume["scaler"] == {}  # no loss scale: bfloat16 needs none
    # resumed with auto on the CPU: float32, recorded as such (not "auto"), each epoch keeping its own
    resumed = train(TrainConfig(**{**cfg.__dict__, "epochs": 2, "resume": True, "precision": "auto"}),
                    show_progress=False)
    assert [h.precision for h in resumed.history] == ["bf16", "fp32"]
    assert load_checkpoint(out).training["train"]["precision"] == "fp32"


def test_a_run_resumed_with_another_loss_and_augmentation_records_each_epochs_own(tiny_corpus, tmp_path):
    """--resume takes the command line's loss terms and augmentation (a run may be changed on the way); the history
    says which epoch trained with which, as it does for the noise weights and the arithmetic."""
    from dataclasses import replace

    cfg = TrainConfig(data=tiny_corpus, out=tmp_path / "m.wux.pt", model=TINY, epochs=1, batch_size=4, segment=2048,
                      val_share=0.34, augment=AugmentConfig.off(), seed=0, snr_cap_db=30.0, dc_weight=1.0)
    first = train(cfg, show_progress=False)
    assert first.history[0].loss == {"level_weight": cfg.level_weight, "dc_weight": 1.0, "snr_cap_db": 30.0}
    assert first.history[0].augment == AugmentConfig.off().to_dict()
    other = replace(AugmentConfig.off(), reverb=True, reverb_noise=False, probability=0.4)
    resumed = train(replace(cfg, epochs=2, resume=True, snr_cap_db=None, dc_weight=0.0, augment=other),
                    show_progress=False)
    assert [h.loss["snr_cap_db"] for h in resumed.history] == [30.0, None]
    assert [h.loss["dc_weight"] for h in resumed.history] == [1.0, 0.0]
    assert [h.augment["reverb"] for h in resumed.history] == [False, True]
    assert resumed.history[1].augment == other.to_dict()
    kept = load_checkpoint(last_checkpoint_path(cfg.out)).resume["history"]  # on record in the checkpoint too
    assert [h["augment"]["reverb_noise"] for h in kept] == [True, False]


def test_a_resumed_float16_run_keeps_its_loss_scale():
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)  # enabled, as fp16 training's is on CUDA
    restore_loss_scale(scaler, {"scaler": {}})  # a run trained in bf16 or fp32 left no scale: the fresh one stays
    restore_loss_scale(scaler, {})  # nor did one from before the scale was kept
    assert scaler.get_scale() == 1024.0
    restore_loss_scale(scaler, {"scaler": {**scaler.state_dict(), "scale": 8.0}})
    assert scaler.get_scale() == 8.0


def decay_the_resumable_rate(out, lr: float) -> None:
    """What the plateau scheduler does to a run's rate, done to its .last checkpoint."""
    path = last_checkpoint_path(out)
    last = load_checkpoint(path)
    for group in last.resume["optimizer"]["param_groups"]:
        group["lr"] = lr
    save_checkpoint(last, path)


class Interrupted(Exception):
    """Stands for Ctrl-C or SIGTERM (a session that ends): the run stops where it is and saves nothing more."""


def stop_after_first_epoch(record, epochs, improved):
    raise Interrupted


def stop_inside_second_epoch(monkeypatch):
    """Interrupt the run as it draws the fifth segment of its second epoch."""
    draw = SegmentDataset.__getitem__

    def interrupted(self, index):
        if self.epoch == 1 and index == 4:
            raise Interrupted
        return draw(self, index)
    monkeypatch.setattr(SegmentDataset, "__getitem__", interrupted)


class DroppingMask(torch.nn.Module):
    """StftMask whose output passes a dropout layer in training: a model that draws from torch's own generator."""

    def __init__(self, **kwargs):
        super().__init__()
        self.mask, self.drop = StftMask(**kwargs), torch.nn.Dropout(0.3)

    def forward(self, x):
        return self.drop(self.mask(x))


DROPPING = UserModel("tests.train.test_train:DroppingMask", {"n_fft": 64, "hop": 16, "channels": 8, "dilations": [1]})


@pytest.mark.parametrize("model", [TINY, DROPPING], ids=["wave-u-net", "dropout"])
@pytest.mark.parametrize("where", ["between epochs", "inside an epoch"])
def test_a_run_interrupted_and_resumed_ends_as_one_run_straight_through(tiny_corpus, tmp_path, monkeypatch, where,
                                                                         model):
    """The recipe's stages were run in pieces (--resume); their commands reproduce them run whole. Crops and
    augmentation are drawn from (seed, epoch, index), the cosine's rate from the epoch, dropout from torch's
    generator as the last checkpoint left it, the rest from that checkpoint; an epoch interrupted before its end
    runs again from its start."""
    base = dict(data=tiny_corpus, model=model, epochs=2, batch_size=4, segment=2048, val_share=0.34, seed=3,
                lr_schedule="cosine", precision="bf16", augment=AugmentConfig())
    whole = train(TrainConfig(out=tmp_path / "whole.wux.pt", **base), show_progress=False)
    with monkeypatch.context() as patch, pytest.raises(Interrupted):
        if where == "inside an epoch":
            stop_inside_second_epoch(patch)
        train(TrainConfig(out=tmp_path / "pieces.wux.pt", **base), show_progress=False,
              on_epoch=stop_after_first_epoch if where == "between epochs" else None)
    pieces = train(TrainConfig(out=tmp_path / "pieces.wux.pt", resume=True, **base), show_progress=False)
    assert pieces.epochs_before == 1
    assert [(h.steps, h.train_loss, h.val_si_snr_db) for h in pieces.history] == \
        [(h.steps, h.train_loss, h.val_si_snr_db) for h in whole.history]
    for name in ("{}.wux.pt", "{}.last.wux.pt"):  # the best checkpoint, and the last with its optimizer state
        a, b = (load_checkpoint(tmp_path / name.format(run)) for run in ("whole", "pieces"))
        assert a.state_dict.keys() == b.state_dict.keys()
        assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)
    a, b = (load_checkpoint(tmp_path / f"{run}.last.wux.pt").resume["optimizer"]["state"]
            for run in ("whole", "pieces"))
    assert all(torch.equal(a[i][k], b[i][k]) for i in a for k in a[i])  # Adam's moments too


def test_resume_keeps_the_decayed_rate_unless_another_is_given(tiny_corpus, tmp_path):
    cfg = TrainConfig(data=tiny_corpus, out=tmp_path / "m.wux.pt", model=TINY, epochs=1, batch_size=4,
                      segment=2048, val_share=0.34, augment=AugmentConfig.off(), seed=0)
    assert train(cfg, show_progress=False).history[-1].lr == pytest.approx(DEFAULT_LR)
    assert load_checkpoint(cfg.out).training["train"]["lr"] == DEFAULT_LR  # the rate used, not None

    def resume(epochs, lr):
        return train(TrainConfig(**{**cfg.__dict__, "epochs": epochs, "resume": True, "lr": lr}),
                     show_progress=False).history[-1].lr

    decay_the_resumable_rate(cfg.out, 2.5e-4)
    assert resume(2, None) == pytest.approx(2.5e-4)  # no rate given: the run goes on at its own
    assert resume(3, DEFAULT_LR) == pytest.approx(2.5e-4)  # the same command line again, with --resume
    assert resume(4, 3e-4) == pytest.approx(3e-4)  # another rate replaces it...
    assert load_checkpoint(cfg.out).training["train"]["lr"] == 3e-4
    decay_the_resumable_rate(cfg.out, 1e-4)
    assert resume(5, 3e-4) == pytest.approx(1e-4)  # ...and is then the run's own


def test_restart_lr_sets_a_resumed_runs_own_rate_back_and_needs_resume(tiny_corpus, tmp_path):
    cfg = TrainConfig(data=tiny_corpus, out=tmp_path / "m.wux.pt", model=TINY, epochs=1, batch_size=4, lr=3e-4,
                      segment=2048, val_share=0.34, augment=AugmentConfig.off(), seed=0, lr_patience=5)
    with pytest.raises(WuxError, match="--restart-lr sets a resumed run's rate back: it needs --resume"):
        train(TrainConfig(**{**cfg.__dict__, "restart_lr": True}), show_progress=False)
    assert not list(tmp_path.iterdir())
    train(cfg, show_progress=False)

    def restart(epochs, lr):
        return train(TrainConfig(**{**cfg.__dict__, "epochs": epochs, "resume": True, "lr": lr, "restart_lr": True}),
                     show_progress=False).history[-1].lr

    decay_the_resumable_rate(cfg.out, 1e-5)
    assert restart(2, 3e-4) == pytest.approx(3e-4)  # the rate it was given, which --lr alone would not set back
    decay_the_resumable_rate(cfg.out, 1e-5)
    assert restart(3, None) == pytest.approx(3e-4)  # no --lr: the run's own starting rate


def test_a_resumed_rate_change_gets_its_full_patience(tiny_corpus, tmp_path):
    cfg = TrainConfig(data=tiny_corpus, out=tmp_path / "m.wux.pt", model=TINY, epochs=1, batch_size=4, lr=3e-4,
                      segment=2048, val_share=0.34, augment=AugmentConfig.off(), seed=0, lr_patience=2)
    train(cfg, show_progress=False)

    def at_the_end_of_its_patience(lr: float) -> None:  # no epoch can beat the best; one more bad one halves
        decay_the_resumable_rate(cfg.out, lr)
        path = last_checkpoint_path(cfg.out)
        last = load_checkpoint(path)
        last.resume["scheduler"].update(best=math.inf, num_bad_epochs=2)
        save_checkpoint(last, path)

    def resume(epochs, lr, **kw):
        return train(TrainConfig(**{**cfg.__dict__, "epochs": epochs, "resume": True, "lr": lr, **kw}),
                     show_progress=False).history[-1].lr

    at_the_end_of_its_patience(1e-4)
    assert resume(2, None) == pytest.approx(5e-5)  # the same rate goes on where its patience was: halved
    at_the_end_of_its_patience(1e-4)
    assert resume(3, 2e-4) == pytest.approx(2e-4)  # another rate starts its patience afresh
    at_the_end_of_its_patience(1e-4)
    assert resume(4, None, restart_lr=True) == pytest.approx(2e-4)  # so does the run's own rate set back


def test_the_cosine_schedule_sets_each_epochs_rate_and_a_resumed_run_goes_on_along_it(tiny_corpus, tmp_path,
                                                                                      monkeypatch):
    cfg = TrainConfig(data=tiny_corpus, out=tmp_path / "m.wux.pt", model=TINY, epochs=2, batch_size=4, lr=1e-3,
                      segment=2048, val_share=0.34, augment=AugmentConfig.off(), seed=0, lr_schedule="cosine")
    with pytest.raises(WuxError, match="--lr-schedule cosine sets each epoch's rate itself"):
        train(TrainConfig(**{**cfg.__dict__, "resume": True, "restart_lr": True}), show_progress=False)
    with pytest.raises(WuxError, match="--lr-schedule must be one of plateau, cosine, got 'step'"):
        train(TrainConfig(**{**cfg.__dict__, "lr_schedule": "step"}), show_progress=False)
    assert [h.lr for h in train(cfg, show_progress=False).history] == pytest.approx([5e-4, 0.0], abs=1e-12)
    assert load_checkpoint(cfg.out).training["train"]["lr_schedule"] == "cosine"
    # a longer run resumed: the curve is the new --epochs' own (epoch 3 of 3: cosine_rate(1e-3, 2, 3)), set at the
    # epoch it starts at whatever the optimizer was left at (zero here: Adam at rate 0 leaves every weight as it was)
    decay_the_resumable_rate(cfg.out, 0.0)
    before = load_checkpoint(last_checkpoint_path(cfg.out)).state_dict
    rates, set_rate = [], loop.set_learning_rate
    monkeypatch.setattr(loop, "set_learning_rate", lambda optimizer, lr: (rates.append(lr), set_rate(optimizer, lr)))
    resumed = train(TrainConfig(**{**cfg.__dict__, "epochs": 3, "resume": True}), show_progress=False)
    assert [h.lr for h in resumed.history] == pytest.approx([5e-4, 0.0, 0.0], abs=1e-12)
    assert rates == pytest.approx([2.5e-4, 0.0], abs=1e-12)  # epoch 3 of 3 trained at cosine_rate(1e-3, 2, 3)
    after = load_checkpoint(last_checkpoint_path(cfg.out)).state_dict
    assert any(not torch.equal(before[k], after[k]) for k in before if k.endswith(("weight", "bias")))
    with pytest.raises(CheckpointError, match="this run scheduled its rate with --lr-schedule cosine; resume with"):
        train(TrainConfig(**{**cfg.__dict__, "epochs": 4, "resume": True, "lr_schedule": "plateau"}),
              show_progress=False)


def test_cosine_rate_falls_from_the_given_rate_to_zero_on_a_half_cosine():
    assert [cosine_rate(2.0, e, 4) for e in range(5)] == pytest.approx([2.0, 1.0 + 2 ** -0.5, 1.0, 1.0 - 2 ** -0.5,
                                                                        0.0], abs=1e-12)


def test_the_plateau_patience_is_the_runs_own_and_a_resumed_command_line_changes_it(tiny_corpus, tmp_path):
    cfg = TrainConfig(data=tiny_corpus, out=tmp_path / "m.wux.pt", model=TINY, epochs=1, batch_size=4,
                      segment=2048, val_share=0.34, augment=AugmentConfig.off(), seed=0, lr_patience=7)
    train(cfg, show_progress=False)

    def scheduler_patience():
        return load_checkpoint(last_checkpoint_path(cfg.out)).resume["scheduler"]["patience"]

    assert scheduler_patience() == 7
    assert load_checkpoint(cfg.out).training["train"]["lr_patience"] == 7
    train(TrainConfig(**{**cfg.__dict__, "epochs": 2, "resume": True, "lr_patience": 0}), show_progress=False)
    assert scheduler_patience() == 0  # not the 7 the restored scheduler state carried


def test_an_epoch_smaller_than_one_batch_is_refused_not_saved_untrained(tiny_corpus, tmp_path):
    cfg = TrainConfig(data=tiny_corpus, out=tmp_path / "m.wux.pt", model=TINY, epochs=1, batch_size=4,
                      segments_per_epoch=3, segment=2048, val_share=0.34, augment=AugmentConfig.off())
    with pytest.raises(WuxError, match="an epoch holds 3 training segments, fewer than one batch of 4"):
        train(cfg, show_progress=False)
    assert not list(tmp_path.iterdir())


def test_accumulation_steps_on_an_epochs_last_batches_and_refuses_an_epoch_that_would_take_no_step(tiny_corpus,
                                                                                                  tmp_path):
    cfg = TrainConfig(data=tiny_corpus, out=tmp_path / "m.wux.pt", model=TINY, epochs=2, batch_size=2,
                      segments_per_epoch=8, segment=2048, val_share=0.0, augment=AugmentConfig.off(), accumulate=3)
    # 4 batches an epoch: one step after three, one on the last batch's gradients (not thrown away)
    assert [h.steps for h in train(cfg, show_progress=False).history] == [2, 4]
    few = TrainConfig(**{**cfg.__dict__, "out": tmp_path / "n.wux.pt", "accumulate": 5})
    with pytest.raises(WuxError, match="an epoch holds 4 batches of 2, fewer than --accumulate 5"):
        train(few, show_progress=False)
    assert not few.out.exists()


def test_a_diverged_run_stops_with_an_error_and_saves_no_broken_weights(tiny_corpus, tmp_path):
    from wux.train.loop import check_finite_weights

    model = WaveUNet(TINY)
    check_finite_weights(model, 1, 1e-3, tmp_path / "m.last.wux.pt")  # finite: nothing to say
    with torch.no_grad():
        next(model.parameters())[0] = math.nan
    with pytest.raises(WuxError, match="diverged in epoch 3 at learning rate 0.5: .*nothing was saved"):
        check_finite_weights(model, 3, 0.5, tmp_path / "m.last.wux.pt")
    (tmp_path / "m.last.wux.pt").touch()
    with pytest.raises(WuxError, match="m.last.wux.pt holds the last good epoch: --resume with a lower --lr"):
        check_finite_weights(model, 3, 0.5, tmp_path / "m.last.wux.pt")


def test_a_resumed_run_holds_out_the_same_validation_files(tiny_corpus, tmp_path):

    cfg = TrainConfig(data=tiny_corpus, out=tmp_path / "m.wux.pt", model=TINY, epochs=1, batch_size=4,
                      segment=2048, val_share=0.34, augment=AugmentConfig.off())
    train(cfg, show_progress=False)
    before = cfg.out.read_bytes()
    for change in ({"val_share": 0.2}, {"val_by": "speaker"}):
        with pytest.raises(CheckpointError, match="validated with --val-share 0.34 --val-by file"):
            train(TrainConfig(**{**cfg.__dict__, "epochs": 2, "resume": True, **change}), show_progress=False)
    assert cfg.out.read_bytes() == before
    assert len(train(TrainConfig(**{**cfg.__dict__, "epochs": 2, "resume": True}), show_progress=False).history) == 2


def test_the_held_out_record_counts_every_file_pair_even_two_of_one_stem():
    """x.wav and x.flac are two pairs of one name: both held out, both counted, as runs before recorded them."""
    record = held_out_record(["x", "b", "x"])
    assert record["files"] == 3 and record != held_out_record(["x", "b"])
    assert record == held_out_record(["b", "x", "x"])  # order does not matter


def test_a_resumed_run_on_a_changed_data_folder_is_refused_not_validated_on_other_files(tmp_path):
    """Same --val-share and --val-by, but a file of the held-out ones gone: the split moves, so resuming would score
    the run on files it trained on; refused before any audio is read (a training file that cannot be read is not
    what it reports), nothing written. Put back, the run resumes."""
    from tests.conftest import write_corpus

    corpus = write_corpus(tmp_path / "corpus")
    cfg = TrainConfig(data=corpus, out=tmp_path / "m.wux.pt", model=TINY, epochs=1, batch_size=4, segment=2048,
                      val_share=0.34, augment=AugmentConfig.off())
    train(cfg, show_progress=False)
    before, last = cfg.out.read_bytes(), last_checkpoint_path(cfg.out).read_bytes()
    # six files, every third held out from the second on: p001 and p004; without p001, p002 and p005
    stored = {p: p.read_bytes() for p in corpus.glob("*_trainset_wav/p001_001.wav")}
    assert len(stored) == 2
    for p in stored:
        p.unlink()
    unreadable = corpus / "noisy_trainset_wav" / "p002_001.wav"
    kept = unreadable.read_bytes()
    unreadable.write_bytes(b"not audio")
    resumed = TrainConfig(**{**cfg.__dict__, "epochs": 2, "resume": True})
    with pytest.raises(CheckpointError, match=r"held out 2 validation file\(s\), and the same options now hold out "
                                              r"\d+ that are not the same"):
        train(resumed, show_progress=False)
    assert cfg.out.read_bytes() == before and last_checkpoint_path(cfg.out).read_bytes() == last
    unreadable.write_bytes(kept)
    for p, data in stored.items():
        p.write_bytes(data)
    assert len(train(resumed, show_progress=False).history) == 2


def test_learning_rates_that_cannot_train_are_refused_before_any_work(tiny_corpus, tmp_path):
    for lr in (0.0, -1e-3, math.inf, math.nan):
        cfg = TrainConfig(data=tiny_corpus, out=tmp_path / "m.wux.pt", model=TINY, lr=lr)
        with pytest.raises(WuxError, match="--lr must be a positive, finite learning rate"):
            train(cfg, show_progress=False)
    with pytest.raises(WuxError, match="--lr-patience must be 0 or more epochs, got -1"):
        train(TrainConfig(data=tiny_corpus, out=tmp_path / "m.wux.pt", model=TINY, lr_patience=-1), show_progress=False)
    assert not list(tmp_path.iterdir())


def test_an_unknown_noise_kind_is_refused_before_any_audio_is_read(tmp_path):
    import json

    from tests.conftest import write_corpus
    from wux.errors import DataError

    corpus = write_corpus(tmp_path / "corpus", files=3)
    noisy = sorted((corpus / "noisy_trainset_wav").iterdir())
    (corpus / "corpus.json").write_text(json.dumps({"utterances": [{"name": p.stem, "noise": "hum"} for p in noisy]}))
    noisy[0].write_bytes(b"not a wav file")  # reading the audio would fail on this file first
    cfg = TrainConfig(data=corpus, out=tmp_path / "m.wux.pt", model=TINY, epochs=1, segment=2048,
                      noise_weights={"bable": 2.0})
    with pytest.raises(DataError, match=r"no training file has noise bable \(the kinds are: hum\)"):
        train(cfg, show_progress=False)
    with pytest.raises(WuxError, match=noisy[0].name):  # the same run without the typo does read it
        train(TrainConfig(**{**cfg.__dict__, "noise_weights": {"hum": 2.0}}), show_progress=False)


def test_fresh_babble_needs_the_corpus_record_and_is_recorded(tmp_path):
    import json

    from tests.conftest import write_corpus
    from wux.errors import DataError

    corpus = write_corpus(tmp_path / "corpus", files=4)
    noisy = sorted((corpus / "noisy_trainset_wav").iterdir())
    fresh = AugmentConfig(**{**AugmentConfig.off().to_dict(), "fresh_babble": 0.5})
    cfg = TrainConfig(data=corpus, out=tmp_path / "m.wux.pt", model=TINY, epochs=1, batch_size=2, segment=2048,
                      segments_per_epoch=4, val_share=0.0, augment=fresh)
    (corpus / "corpus.json").write_text(json.dumps({"utterances": [
        {"name": p.stem, "noise": "babble"} for p in noisy]}))
    kept = noisy[0].read_bytes()
    noisy[0].write_bytes(b"not a wav file")  # reading the audio would fail on this file first
    with pytest.raises(DataError, match="needs every training file's noise kind and speaker; 4 file"):
        train(cfg, show_progress=False)
    noisy[0].write_bytes(kept)
    (corpus / "corpus.json").write_text(json.dumps({"utterances": [
        {"name": p.stem, "noise": "babble", "speaker": f"s{i % 2}"} for i, p in enumerate(noisy)]}))
    with pytest.raises(WuxError, match="--fresh-babble is a chance, from 0 to 1, got 2"):
        train(TrainConfig(**{**cfg.__dict__, "augment": AugmentConfig(fresh_babble=2.0)}), show_progress=False)
    with pytest.raises(WuxError, match="--speed-range is a percentage from 2 to 50, got 80"):
        train(TrainConfig(**{**cfg.__dict__, "augment": AugmentConfig(speed_percent=80.0)}), show_progress=False)
    assert train(cfg, show_progress=False).steps == 2
    assert load_checkpoint(cfg.out).training["train"]["augment"]["fresh_babble"] == 0.5


def test_init_starts_from_a_checkpoints_weights_and_records_it(tiny_corpus, tmp_path):
    from wux.fsutil import sha256_file

    base = TrainConfig(data=tiny_corpus, out=tmp_path / "a.wux.pt", model=TINY, epochs=1, batch_size=4,
                       segment=2048, val_share=0.34, augment=AugmentConfig.off(), seed=0)
    first = train(base, show_progress=False)
    tuned = TrainConfig(**{**base.__dict__, "out": tmp_path / "b.wux.pt", "init": base.out, "lr": 1e-12})
    tuned_result = train(tuned, show_progress=False)
    # at a rate too small to move a weight, the fine-tuned model is its starting point
    start, after = load_checkpoint(base.out).state_dict, load_checkpoint(tuned.out).state_dict
    assert all(torch.allclose(start[k].float(), after[k].float(), atol=1e-6) for k in start)
    fresh = train(TrainConfig(**{**tuned.__dict__, "out": tmp_path / "c.wux.pt", "init": None}), show_progress=False)
    assert tuned_result.history[0].val_si_snr_db == pytest.approx(first.history[0].val_si_snr_db, abs=1e-3)
    assert abs(fresh.history[0].val_si_snr_db - first.history[0].val_si_snr_db) > 0.1  # without --init: untrained
    record = load_checkpoint(tuned.out).training
    assert record["init_sha256"] == sha256_file(base.out) and record["train"]["init"] == str(base.out)
    assert "init_sha256" not in load_checkpoint(tmp_path / "c.wux.pt").training

    resumed = train(TrainConfig(**{**tuned.__dict__, "epochs": 2, "resume": True}), show_progress=False)
    assert [h.epoch for h in resumed.history] == [1, 2]  # the recorded command with --resume goes on
    assert load_checkpoint(tuned.out).training["init_sha256"] == sha256_file(base.out)
    other = train(TrainConfig(**{**base.__dict__, "out": tmp_path / "other.wux.pt"}), show_progress=False)
    assert other.steps
    with pytest.raises(WuxError, match="this run did not start from --init"):
        train(TrainConfig(**{**tuned.__dict__, "epochs": 3, "resume": True, "init": tmp_path / "other.wux.pt"}),
              show_progress=False)


def test_init_refuses_another_model_config_before_reading_audio(tmp_path):
    from wux.model.config import CONTEXT, DEFAULT

    ckpt = tmp_path / "tiny.wux.pt"
    save_checkpoint(Checkpoint(WaveUNet(TINY).state_dict(), TINY), ckpt)
    cfg = TrainConfig(data=tmp_path / "no-such-corpus", out=tmp_path / "m.wux.pt", model=DEFAULT, init=ckpt)
    with pytest.raises(WuxError, match="--init: checkpoint does not match this model config"):
        train(cfg, show_progress=False)
    assert model_to_train(None, None, ckpt) == TINY and model_to_train(None, None, None) == DEFAULT
    assert model_to_train("context", None, ckpt) == CONTEXT  # the model to grow into, checked by train
    with pytest.raises(WuxError, match="leave out --model"):
        model_to_train(None, None, ckpt, "wux.model.stft_mask:StftMask")


def test_init_with_a_grown_config_trains_the_checkpoint_grown(tiny_corpus, tmp_path):
    """--init CKPT --config BIGGER: the run starts as exactly the checkpoint's model (its added blocks the identity)
    and records the grown config; a config that is not grown from it, or that cannot train grown, is refused."""
    small = WaveUNetConfig(levels=2, channels=(4, 8), bottleneck_channels=8, stride=2, norm="batch",
                           bottleneck_dilations=(1,))
    cfg = TrainConfig(data=tiny_corpus, out=tmp_path / "s.wux.pt", model=small, epochs=1, batch_size=4,
                      segment=2048, val_share=0.34, augment=AugmentConfig.off(), seed=0)
    train(cfg, show_progress=False)
    start = load_checkpoint(cfg.out)
    big = WaveUNetConfig(**{**small.to_dict(), "bottleneck_dilations": (1, 2, 4)})
    grown = TrainConfig(**{**cfg.__dict__, "out": tmp_path / "g.wux.pt", "init": cfg.out, "model": big})
    built = loop.build_trainee(grown, loop.initial_state(grown)).module.eval()
    before = WaveUNet(small)
    before.load_state_dict(start.state_dict)
    x = torch.randn(1, 1, 4096)
    with torch.no_grad():
        assert torch.equal(built(x), before.eval()(x))
    result = train(grown, show_progress=False)
    assert result.steps > 0
    saved = load_checkpoint(grown.out)
    assert saved.config == big and saved.training["init_sha256"] == start.sha256
    resumed = train(TrainConfig(**{**grown.__dict__, "epochs": 2, "resume": True}), show_progress=False)
    assert [h.epoch for h in resumed.history] == [1, 2]  # the recorded command, --resume added, goes on
    again = TrainConfig(**{**cfg.__dict__, "out": tmp_path / "same.wux.pt", "init": cfg.out, "model": small})
    assert train(again, show_progress=False).steps > 0  # --init X --config X's own: a plain fine-tune
    assert not torch.equal(saved.state_dict["context.2.norm.weight"], torch.zeros(8))  # the added block trained
    other = WaveUNetConfig(**{**big.to_dict(), "bottleneck_channels": 16, "encoder_kernel": 7})
    with pytest.raises(CheckpointError, match="only widen levels or the bottleneck and append bottleneck dilations"):
        train(TrainConfig(**{**grown.__dict__, "model": other, "out": tmp_path / "x.wux.pt"}), show_progress=False)
    relu_small = WaveUNetConfig(**{**small.to_dict(), "activation": "relu"})
    save_checkpoint(Checkpoint(WaveUNet(relu_small).state_dict(), relu_small), tmp_path / "relu.wux.pt")
    relu_big = WaveUNetConfig(**{**big.to_dict(), "activation": "relu"})
    with pytest.raises(CheckpointError, match="cannot grow a relu model's context stack"):
        train(TrainConfig(**{**grown.__dict__, "model": relu_big, "init": tmp_path / "relu.wux.pt",
                             "out": tmp_path / "x.wux.pt"}), show_progress=False)


def test_a_callable_model_trains_resumes_and_fine_tunes(tiny_corpus, tmp_path):
    from wux.model.load import load_model

    small = UserModel("wux.model.stft_mask:StftMask", {"n_fft": 64, "hop": 16, "channels": 8, "dilations": [1, 2]})
    cfg = TrainConfig(data=tiny_corpus, out=tmp_path / "s.wux.pt", model=small, epochs=2, batch_size=4,
                      segment=2048, val_share=0.34, augment=AugmentConfig.off(), seed=0)
    result = train(cfg, show_progress=False)
    assert result.steps > 0 and math.isfinite(result.best_val_si_snr_db)
    ckpt = load_checkpoint(cfg.out)
    assert ckpt.family == "user" and ckpt.user == small and ckpt.contract["sample_rate"] == 16000
    loaded = load_model(ModelSource(checkpoint=cfg.out))
    assert loaded.contract_origin["length"] == "recorded"  # measured once, when training began
    trained = loaded.raw_module().state_dict()
    torch.manual_seed(cfg.seed)  # as the run seeds itself before building the model: its starting weights
    initial = StftMask(**small.kwargs).state_dict()
    assert not all(torch.equal(trained[k], v) for k, v in initial.items())

    resumed = train(TrainConfig(**{**cfg.__dict__, "epochs": 3, "resume": True}), show_progress=False)
    assert [h.epoch for h in resumed.history] == [1, 2, 3]
    with pytest.raises(WuxError, match="--init and --out are the same file"):
        train(TrainConfig(**{**cfg.__dict__, "init": cfg.out}), show_progress=False)
    tuned = TrainConfig(**{**cfg.__dict__, "out": tmp_path / "t.wux.pt", "init": cfg.out, "epochs": 1})
    assert train(tuned, show_progress=False).steps > 0
    with pytest.raises(CheckpointError, match="a callable model's checkpoint trains as itself"):
        initial_state(TrainConfig(**{**tuned.__dict__, "model": TINY}))
    assert model_to_train(None, None, cfg.out) == small
    with pytest.raises(WuxError, match="does not match"):  # other kwargs: another model
        other = UserModel(small.factory, {**small.kwargs, "channels": 4})
        train(TrainConfig(**{**cfg.__dict__, "model": other, "resume": True}), show_progress=False)


def test_a_callable_that_cannot_be_built_fails_before_any_audio_is_read(tmp_path):
    cfg = TrainConfig(data=tmp_path / "no-such-corpus", out=tmp_path / "m.wux.pt",
                      model=UserModel("wux.model.stft_mask:StftMask", {"hop": 384}))
    with pytest.raises(WuxError, match="must divide n_fft"):
        train(cfg, show_progress=False)
    with pytest.raises(WuxError, match="pass --model too"):
        model_to_train(None, None, None, None, {"channels": 8})
    with pytest.raises(WuxError, match="leave out --preset and --config"):
        model_to_train("tiny", None, None, "wux.model.stft_mask:StftMask")


def test_without_validation_files_no_validation_score_is_claimed(tiny_corpus, tmp_path):
    cfg = TrainConfig(data=tiny_corpus, out=tmp_path / "m.wux.pt", model=TINY, epochs=2, batch_size=4,
                      segment=2048, val_share=0.0, augment=AugmentConfig.off(), seed=0)
    result = train(cfg, show_progress=False)
    assert result.best_val_si_snr_db is None and all(math.isnan(h.val_si_snr_db) for h in result.history)
    training = load_checkpoint(cfg.out).training
    assert training["best_val_si_snr_db"] is None and training["best_by"] == "minus training loss"
    assert training["best_score"] == max(-h.train_loss for h in result.history)


def test_bf16_on_a_cpu_without_bfloat16_instructions_is_noted_as_emulated(monkeypatch):
    from pathlib import Path

    from wux.runtime.device import CPU_BF16_FLAGS, cpu_has_bf16
    from wux.train import loop

    flags = set(Path("/proc/cpuinfo").read_text().split())  # this machine's own answer first
    assert cpu_has_bf16() == any(flag in flags for flag in CPU_BF16_FLAGS)
    for has, device, arithmetic, noted in ((False, "cpu", "bf16", True), (True, "cpu", "bf16", False),
                                           (None, "cpu", "bf16", False), (False, "cpu", "fp32", False),
                                           (False, "cuda", "bf16", False)):
        monkeypatch.setattr(loop, "cpu_has_bf16", lambda has=has: has)
        notes = loop.emulated_bf16_notes(device, arithmetic)
        assert bool(notes) == noted, (has, device, arithmetic)
        assert not notes or "avx512_bf16, amx_bf16" in notes[0] and "slower than float32" in notes[0]


def test_wux_train_says_bf16_is_emulated_on_stderr_before_it_trains_and_keeps_it_in_the_record(tiny_corpus, tmp_path,
                                                                                               monkeypatch):
    """A run of hours is told at its start, even with --json (whose stdout stays one JSON record)."""
    from typer.testing import CliRunner

    from wux.cli import app
    from wux.train import loop

    monkeypatch.setattr(loop, "cpu_has_bf16", lambda: False)
    args = ["train", str(tiny_corpus), "--out", str(tmp_path / "m.wux.pt"), "--preset", "tiny", "--epochs", "1",
            "--batch-size", "4", "--segment", "2048", "--val-share", "0.34", "--no-augment", "--json"]
    result = CliRunner().invoke(app, [*args, "--precision", "bf16"])
    assert result.exit_code == 0, result.output
    note = json.loads(result.stdout)["notes"][-1]
    assert "emulated" in note and result.stderr.startswith(f"note: {note}\n")
    refused = CliRunner().invoke(app, [*args, "--precision", "bf16"])  # its --out is there: refused, nothing noted
    assert refused.exit_code == 2 and "emulated" not in refused.output
    fp32 = CliRunner().invoke(app, [*args, "--precision", "fp32", "--force"])
    assert fp32.exit_code == 0 and "emulated" not in fp32.stderr and json.loads(fp32.stdout)["notes"] == []
