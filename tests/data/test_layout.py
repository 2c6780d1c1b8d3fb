import json
import re

import pytest

from wux.data.layout import Metadata, check_noise_kinds, read_metadata
from wux.data.synth import RICH
from wux.errors import DataError
from wux.resources import EVAL_SET, bundled


def test_metadata_from_a_corpus_or_the_bundled_eval_set(tmp_path):
    (tmp_path / "corpus.json").write_text(json.dumps({"utterances": [{"name": "p1", "noise": "hum", "snr_db": 4}]}))
    meta = read_metadata(tmp_path)
    assert meta.noise == {"p1": "hum"} and meta.snr_db == {"p1": 4.0} and meta.source.endswith("corpus.json")
    bundled_meta = read_metadata(bundled(EVAL_SET))
    # one file of each noise kind the rich corpus (the bundled default's) has
    assert sorted(bundled_meta.noise.values()) == sorted(RICH.noise_families)
    assert bundled_meta.source.endswith("evalset.json")
    assert read_metadata(tmp_path / "nowhere").source is None
    assert meta.room == {} and bundled_meta.room == {}  # neither record gives rooms


def test_rooms_from_a_record_that_gives_them(tmp_path):
    entries = [{"name": "p1", "noise": "hum", "rt60_s": 0.0}, {"name": "p2", "noise": "hum", "rt60_s": 0.31},
               {"name": "p3", "noise": "hum"}]
    (tmp_path / "corpus.json").write_text(json.dumps({"utterances": entries}))
    assert read_metadata(tmp_path).room == {"p1": "dry", "p2": "reverberant"}


@pytest.mark.parametrize(("entry", "said"), [
    ({"name": "p1", "noise": "hum", "snr_db": "loud"}, "entry 1 (p1): snr_db 'loud' is not a number"),
    ({"name": "p1", "noise": "hum", "snr_db": None}, "entry 1 (p1): snr_db None is not a number"),
    ({"name": "p1", "noise": "hum", "rt60_s": "0.3"}, "entry 1 (p1): rt60_s '0.3' is not a number"),
    ({"name": "p1", "noise": "hum", "rt60_s": True}, "entry 1 (p1): rt60_s True is not a number"),
    ({"name": ["p1"], "noise": "hum"}, "entry 1: name ['p1'] is not text"),
])
def test_a_record_with_a_bad_entry_is_refused_naming_the_file_and_the_entry(tmp_path, entry, said):
    good = {"name": "p0", "noise": "hum", "snr_db": 4, "rt60_s": 0.0}
    (tmp_path / "corpus.json").write_text(json.dumps({"utterances": [good, entry]}))
    with pytest.raises(DataError, match="is not") as bad:
        read_metadata(tmp_path)
    assert str(bad.value) == f"{tmp_path / 'corpus.json'}: {said}"


@pytest.mark.parametrize("text, problem", [
    ("{not json", "not valid JSON"), ('{"files": 5}', "not a list of files"),
    ('{"utterances": "p1"}', "not a list of files"),
    ('["p1"]', "not a list of files"), ('{"files": 0}', "not a list of files"), ('{"files": null}', "not a list"),
    ("{}", "lists no file's noise kind or SNR"),
    ('{"files": []}', "lists no file's noise kind or SNR"), ('{"files": [{"name": "p1"}]}', "lists no file's noise"),
    (b"\xff\xfe", "not valid JSON"),
])
def test_a_broken_record_is_named_not_taken_for_a_missing_one(tmp_path, text, problem):
    record = tmp_path / "corpus.json"
    if isinstance(text, bytes):
        record.write_bytes(text)
    else:
        record.write_text(text)
    meta = read_metadata(tmp_path)
    assert meta.noise == {} and meta.unreadable == str(record) and problem in meta.problem
    with pytest.raises(DataError, match=f"corpus.json: {re.escape(problem)}"):
        check_noise_kinds(meta, ["p1"], ["hum"], tmp_path)
    with pytest.raises(DataError, match="this folder has none") as missing:
        check_noise_kinds(read_metadata(tmp_path / "nowhere"), ["p1"], ["hum"], tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(missing.value)


def test_noise_kinds_are_checked_against_the_files_at_hand(tmp_path):
    meta = Metadata({"p1": "hum", "p2": "babble"}, {}, str(tmp_path / "corpus.json"))
    check_noise_kinds(meta, ["p1", "p2"], ["hum"], tmp_path)
    check_noise_kinds(meta, [], [], tmp_path)  # nothing asked for: nothing to check
    with pytest.raises(DataError, match=r"no file has noise fan, hun \(the kinds are: babble, hum\)") as typo:
        check_noise_kinds(meta, ["p1", "p2"], ["hun", "fan"], tmp_path)
    assert str(typo.value).startswith(str(tmp_path / "corpus.json"))
    with pytest.raises(DataError, match=r"records no noise kind for any training file in"):
        check_noise_kinds(meta, ["q1"], ["hum"], tmp_path, files="training file")
