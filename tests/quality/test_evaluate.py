import json

import numpy as np
import soundfile as sf

from tests.conftest import write_corpus
from tests.test_cli import assert_one_line_error, invoke
from wux.data.resample import resample_poly
from wux.resources import EVAL_SET, SAMPLE_NOISY, bundled

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_eval_with_baselines_on_the_bundled_eval_set():
    result = invoke("eval", "--data", bundled(EVAL_SET), "--baseline", "rnnoise", "--baseline", "spectral-gating",
                    "--json", "--per-file")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    model = report["model"]
    assert report["systems"] == ["input", model, "rnnoise", "spectral-gating"]
    assert report["snr_source"].endswith("evalset.json")
    meta = json.loads((bundled(EVAL_SET) / "evalset.json").read_text())["files"]
    kinds = {f["noise"] for f in meta}
    groups = {r["group"] for r in report["rows"]}
    assert {f"noise {k}" for k in kinds} <= groups and "all" in groups
    assert any(g.startswith("snr ") for g in groups)
    for f in report["per_file"]:
        assert set(f["scores"]) == set(report["systems"])
        for s in f["scores"].values():
            assert np.isfinite(s["si_snr_db"]) and 1.0 <= s["pesq_wb"] <= 4.65 and 0 <= s["stoi"] <= 1
    rows = {(r["group"], r["system"]): r for r in report["rows"]}
    own = rows[("all", model)]
    assert own["si_snr_improvement_db_mean"] == report["si_snr_improvement_db_mean"]
    assert own["pesq_wb_mean"] == report["pesq_wb_output_mean"]
    # each file's gain is the system's SI-SNR minus the input's: recompute the mean from the per-file scores
    gains = [f["scores"]["rnnoise"]["si_snr_db"] - f["scores"]["input"]["si_snr_db"] for f in report["per_file"]]
    assert rows[("all", "rnnoise")]["si_snr_improvement_db_mean"] == np.mean(gains)


def test_eval_oracle_scores_the_ideal_ratio_mask_beside_the_model():
    result = invoke("eval", "--data", bundled(EVAL_SET), "--oracle", "--limit", "4", "--json", "--per-file")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["systems"] == ["input", report["model"], "ideal-ratio-mask"]
    rows = {(r["group"], r["system"]): r for r in report["rows"]}
    assert rows[("all", "ideal-ratio-mask")]["files"] == 4
    for f in report["per_file"]:  # the mask knows the speech: it helps every file
        assert f["scores"]["ideal-ratio-mask"]["si_snr_db"] > f["scores"]["input"]["si_snr_db"] + 3
    # the model's own figures are those of a run without the oracle
    plain = json.loads(invoke("eval", "--data", bundled(EVAL_SET), "--limit", "4", "--json").stdout)
    assert plain["si_snr_improvement_db_mean"] == report["si_snr_improvement_db_mean"]


def test_eval_table_names_every_system():
    result = invoke("eval", "--data", bundled(EVAL_SET), "--baseline", "spectral-gating", "--limit", "3")
    assert result.exit_code == 0, result.output
    for text in ("all files", "spectral-gating", "by noise kind and input SNR", "PESQ-WB", "STOI"):
        assert text in result.output
    assert "note:" not in result.output  # the set is stored as the model takes it


def test_eval_says_it_resampled_and_downmixed_the_stored_files(tmp_path):
    """A 48 kHz stereo copy of two of the set's pairs: scored at the model's rate, mono, and the report says so."""
    for kind in ("clean", "noisy"):
        (tmp_path / f"{kind}_testset_wav").mkdir()
        for path in sorted((bundled(EVAL_SET) / f"{kind}_testset_wav").iterdir())[:2]:
            wave, rate = sf.read(path, dtype="float32")
            wide = resample_poly(wave, rate, 48_000)
            sf.write(tmp_path / f"{kind}_testset_wav" / path.name, np.stack([wide, wide], axis=1), 48_000)
    result = invoke("eval", "--data", tmp_path)
    assert result.exit_code == 0, result.output
    assert "note: 2 of 2 file pairs resampled to the model's 16000 Hz (stored at 48000 Hz)" in result.output
    assert "note: 2 of 2 file pairs downmixed to mono (stored with 2 channels)" in result.output
    report = json.loads(invoke("eval", "--data", tmp_path, "--json").stdout)
    assert len(report["notes"]) == 2 and report["files"] == 2


def test_eval_unknown_baseline_is_one_line():
    assert_one_line_error(invoke("eval", "--data", bundled(EVAL_SET), "--baseline", "wiener"),
                          "--baseline: unknown baseline 'wiener'; choose from rnnoise, spectral-gating")


def test_denoise_plot_draws_input_and_output(tmp_path):
    png = tmp_path / "look.png"
    result = invoke("denoise", bundled(SAMPLE_NOISY), "-o", tmp_path / "out.wav", "--plot", png, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["spectrogram"] == str(png)
    assert png.read_bytes()[:8] == PNG_MAGIC and not list(tmp_path.glob("*.tmp*"))


def test_denoise_plot_of_two_files_is_refused_before_any_work(tmp_path):
    sf.write(tmp_path / "a.wav", np.zeros(1600), 16000)
    result = invoke("denoise", tmp_path / "a.wav", tmp_path / "a.wav", "-o", tmp_path / "out", "--plot",
                    tmp_path / "x.png")
    assert_one_line_error(result, "--plot", "one input file")
    assert not (tmp_path / "out").exists() and not (tmp_path / "x.png").exists()


def test_denoise_plot_onto_a_folder_is_refused_before_the_output_is_written(tmp_path):
    (tmp_path / "pictures").mkdir()
    result = invoke("denoise", bundled(SAMPLE_NOISY), "-o", tmp_path / "out.wav", "--plot", tmp_path / "pictures")
    assert_one_line_error(result, str(tmp_path / "pictures"), "is a folder; --plot takes the PNG file to write")
    assert not (tmp_path / "out.wav").exists()


def test_demo_writes_spectrograms_and_perceptual_scores(tmp_path):
    result = invoke("demo", "--out", tmp_path / "demo", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    r = report["in_process"]
    assert open(r["spectrogram"], "rb").read(8) == PNG_MAGIC
    assert r["pesq_wb_after"] > r["pesq_wb_before"] >= 1.0 and r["stoi_after"] > r["stoi_before"] > 0
    assert r["notes"] == []
    held_out = report["held_out"]  # the bundled model's recorded test-split figures, found by its sha256
    assert held_out["provenance"] == "provenance.json" and held_out["files"] > 100
    assert held_out["scores"][0]["system"] == "bundled default model"


def test_demo_of_another_checkpoint_claims_no_recorded_figures(tiny_checkpoint, tmp_path):
    result = invoke("demo", tiny_checkpoint, "--out", tmp_path / "demo", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["held_out"] is None


def test_eval_of_chosen_noise_kinds_scores_only_those_files():
    meta = json.loads((bundled(EVAL_SET) / "evalset.json").read_text())["files"]
    wanted = {f["name"] for f in meta if f["noise"] in ("clicks", "hum")}
    result = invoke("eval", "--data", bundled(EVAL_SET), "--noise", "clicks", "--noise", "hum", "--json", "--per-file")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["noises"] == ["clicks", "hum"] and report["files"] == len(wanted) == 2
    assert {f["name"] for f in report["per_file"]} == wanted
    assert {r["group"] for r in report["rows"] if r["group"].startswith("noise ")} == {"noise clicks", "noise hum"}


def test_eval_of_a_noise_kind_the_set_lacks_names_the_kinds_it_has():
    result = invoke("eval", "--data", bundled(EVAL_SET), "--noise", "bable")
    assert_one_line_error(result, "evalset.json", "no file has noise bable",
                          "babble, brown, clicks, fan, hum, keyboard, music, pink, traffic, white")
    blank = invoke("eval", "--data", bundled(EVAL_SET), "--noise", "")
    assert_one_line_error(blank, "evalset.json", "no file has noise '' (the kinds are: babble,")


def test_eval_by_noise_kind_needs_the_corpus_record(tiny_corpus):
    assert_one_line_error(invoke("eval", "--data", tiny_corpus, "--noise", "babble"), str(tiny_corpus), "has none")


def test_eval_groups_by_room_where_the_corpus_record_gives_rooms(tmp_path):
    corpus = write_corpus(tmp_path / "corpus", files=4, seconds=1.0)
    rt60 = {"p000_001": 0.0, "p001_001": 0.4, "p002_001": 0.0, "p003_001": 0.25}
    (corpus / "corpus.json").write_text(json.dumps({"utterances": [
        {"name": name, "noise": "white", "snr_db": 10.0, "rt60_s": t} for name, t in rt60.items()]}))
    result = invoke("eval", "--data", corpus, "--json", "--per-file")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {f["name"]: f["room"] for f in report["per_file"]} == {
        name: "reverberant" if t else "dry" for name, t in rt60.items()}
    rooms = {r["group"]: r["files"] for r in report["rows"] if r["group"].startswith("room ")}
    assert rooms == {"room dry": 2, "room reverberant": 2}
    table = invoke("eval", "--data", corpus)
    assert table.exit_code == 0, table.output
    assert "room reverberant" in table.output and "by noise kind, input SNR and room" in table.output


def test_eval_with_a_broken_corpus_record_says_it_went_without_it(tmp_path):
    """An unreadable corpus.json is not taken for a missing one: the table has no noise-kind groups, and says why."""
    corpus = write_corpus(tmp_path / "corpus", files=2, seconds=1.0)
    (corpus / "corpus.json").write_text("{not json")
    said = (f"note: {corpus / 'corpus.json'}: not valid JSON, so its noise kinds, SNRs, "
            "speakers and rooms are not used")
    table = invoke("eval", "--data", corpus)
    assert table.exit_code == 0, table.output
    assert said in table.output
    report = json.loads(invoke("eval", "--data", corpus, "--json").stdout)
    assert report["notes"] == [said.removeprefix("note: ")]
    assert not any(r["group"].startswith(("noise ", "room ")) for r in report["rows"])


def test_eval_says_when_a_models_outputs_are_silent(tmp_path):
    """A model that outputs nothing scores 0 dB SI-SNR (EPS/EPS, as the field's implementations do), which would
    read as an improvement on every input below 0 dB: eval says so. Real outputs draw no such note."""
    from tests.conftest import make_checkpoint
    from wux.model.checkpoint import load_checkpoint, save_checkpoint

    corpus = write_corpus(tmp_path / "corpus", files=2, seconds=1.0)
    silent = load_checkpoint(make_checkpoint(tmp_path / "silent.wux.pt"))
    for key, tensor in silent.state_dict.items():
        if tensor.is_floating_point():
            tensor.fill_(1.0 if key.endswith("running_var") else 0.0)
    save_checkpoint(silent, tmp_path / "silent.wux.pt")
    report = json.loads(invoke("eval", tmp_path / "silent.wux.pt", "--data", corpus, "--json", "--per-file").stdout)
    model = report["model"]
    assert report["notes"] == [f"{model}: 2 of 2 outputs are silent (nothing left once their mean is removed), which "
                               "SI-SNR scores near 0 dB whatever the input: their improvement is minus the input's "
                               "SI-SNR"]
    assert all(abs(f["scores"][model]["si_snr_db"]) < 1e-6 for f in report["per_file"])
    alive = json.loads(invoke("eval", make_checkpoint(tmp_path / "alive.wux.pt"), "--data", corpus, "--json").stdout)
    assert alive["notes"] == []


def test_silence_is_what_si_snr_scores_by_its_guards_alone():
    from wux.metrics import scored_as_silence, si_snr_db

    rng = np.random.default_rng(0)
    reference = rng.standard_normal(16000)
    for quiet, expected in ((np.zeros(16000), True), (np.full(16000, 0.3), True), (5e-7 * reference, True),
                            (1e-4 * reference, False), (rng.standard_normal(16000), False)):
        assert scored_as_silence(quiet) == expected
        if expected:  # scored by the EPS guards, not by how well it matches: a perfect copy gets under 3 dB
            assert abs(si_snr_db(quiet, reference)) < 3.02
    assert si_snr_db(1e-4 * reference, reference) > 40  # just above the line, the copy scores as one
