
import numpy as np
import pytest

from wux.quality.scoring import INPUT, FileScore, Scores, group_rows, score, snr_band, stoi_of


def file(name, noise, snr, inp, out, pesq=None, room=None):
    return FileScore(name, noise, snr, {INPUT: Scores(inp, pesq and pesq[0]), "m": Scores(out, pesq and pesq[1])},
                     room)


def test_groups_by_noise_kind_and_snr_band_with_means_and_medians():
    files = [file("a", "babble", -2.0, 0.0, 3.0, (1.2, 1.5)), file("b", "babble", 3.0, 2.0, 4.0, (1.4, None)),
             file("c", "hum", 7.5, 5.0, 15.0, (2.0, 3.0))]
    rows = {(r.group, r.system): r for r in group_rows(files, [INPUT, "m"])}
    assert [g for g, s in rows if s == "m"] == ["all", "noise babble", "noise hum", "snr -5..0 dB", "snr 0..5 dB",
                                               "snr 5..10 dB"]
    everything = rows[("all", "m")]
    assert everything.files == 3
    assert everything.si_snr_improvement_db_mean == pytest.approx((3 + 2 + 10) / 3)
    assert everything.si_snr_improvement_db_median == pytest.approx(3.0)
    assert everything.pesq_wb_mean == pytest.approx(2.25)  # a file PESQ refused is left out, not counted as 0
    # ... and left out for every system, so that input and output PESQ are means over the same files
    assert rows[("all", INPUT)].pesq_wb_mean == pytest.approx((1.2 + 2.0) / 2)
    assert everything.pesq_files == rows[("all", INPUT)].pesq_files == 2 and everything.stoi_files == 0
    assert rows[("noise babble", "m")].si_snr_improvement_db_mean == pytest.approx(2.5)
    assert rows[("snr 5..10 dB", INPUT)].si_snr_improvement_db_mean == 0.0
    assert rows[("all", "m")].stoi_mean is None


def test_groups_by_room_where_the_metadata_gives_rooms():
    files = [file("a", "babble", 2.0, 0.0, 4.0, room="dry"), file("b", "babble", 3.0, 0.0, 1.0, room="reverberant")]
    rows = {(r.group, r.system): r for r in group_rows(files, [INPUT, "m"])}
    assert [g for g, s in rows if s == "m"] == ["all", "noise babble", "snr 0..5 dB", "room dry", "room reverberant"]
    assert rows[("room dry", "m")].si_snr_improvement_db_mean == pytest.approx(4.0)
    assert rows[("room reverberant", "m")].files == 1
    assert rows[("room reverberant", "m")].si_snr_improvement_db_mean == pytest.approx(1.0)
    all_dry = [file("a", "babble", 2.0, 0.0, 4.0, room="dry"), file("b", "babble", 3.0, 0.0, 1.0, room="dry")]
    assert not [r for r in group_rows(all_dry, [INPUT, "m"]) if r.group.startswith("room")]  # it would repeat "all"


@pytest.mark.parametrize("snr, band", [(-5.0, "snr -5..0 dB"), (-0.01, "snr -5..0 dB"), (0.0, "snr 0..5 dB"),
                                       (19.99, "snr 15..20 dB")])
def test_snr_bands_are_half_open(snr, band):
    assert snr_band(snr) == band


def test_scores_are_measured():
    rng = np.random.default_rng(0)
    t = np.arange(32000) / 16000
    clean = 0.1 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))
    noisy = clean + 0.05 * rng.standard_normal(len(t))
    s = score(clean, noisy, 16000, None, None)
    assert s.pesq_wb is None and s.stoi is None
    assert s.si_snr_db == pytest.approx(10 * np.log10(np.sum(clean**2) / np.sum((noisy - clean) ** 2)), abs=0.2)


def test_stoi_of_a_file_too_short_for_it_is_none_not_a_placeholder():
    stoi = pytest.importorskip("pystoi").stoi
    rng = np.random.default_rng(0)
    for n in (10, 3000):  # numpy fails on the first; pystoi returns its 1e-5 placeholder on the second
        x = rng.standard_normal(n)
        assert stoi_of(stoi, x, x, 16000) is None
    speech = rng.standard_normal(32000) * np.repeat(rng.uniform(0, 1, 100), 320)
    assert stoi_of(stoi, speech, speech, 16000) == pytest.approx(1.0)
