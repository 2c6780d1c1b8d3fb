import hashlib
import json

import numpy as np
import pytest

from wux.data.dataset import list_pairs
from wux.data.synth import SNR_RANGE_DB, plan_utterances, synthesize_corpus
from wux.errors import WuxError

pytestmark = pytest.mark.espeak


def digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.wav")):
        h.update(p.relative_to(root).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth") / "c"
    synthesize_corpus(root, minutes=1.5, seed=7)
    return root


def test_layout_and_summary(corpus):
    for split in ("train", "test"):
        pairs = list_pairs(corpus, split)
        assert len(pairs) >= 2
    meta = json.loads((corpus / "corpus.json").read_text())
    assert meta["summary"]["seed"] == 7
    assert 0.8 < sum(meta["summary"]["minutes"].values()) < 2.5
    families = {u["noise"] for u in meta["utterances"]}
    assert families >= {"white", "pink", "babble", "hum", "clicks"}


def test_same_seed_same_bytes_other_seed_other_bytes(corpus, tmp_path):
    synthesize_corpus(tmp_path / "again", minutes=1.5, seed=7)
    synthesize_corpus(tmp_path / "other", minutes=1.5, seed=8)
    assert digest(tmp_path / "again") == digest(corpus)
    assert digest(tmp_path / "other") != digest(corpus)


def test_mixtures_have_the_planned_snr(corpus):
    import soundfile as sf

    meta = {u["name"]: u for u in json.loads((corpus / "corpus.json").read_text())["utterances"]}
    for split in ("train", "test"):
        for clean_path, noisy_path in list_pairs(corpus, split):
            clean, _ = sf.read(clean_path)
            noisy, _ = sf.read(noisy_path)
            snr = 10 * np.log10(np.sum(clean**2) / np.sum((noisy - clean) ** 2))
            planned = meta[clean_path.stem]["snr_db"]
            assert SNR_RANGE_DB[0] - 0.5 <= snr <= SNR_RANGE_DB[1] + 0.5
            assert abs(snr - planned) < 0.5  # 16-bit rounding only


def test_test_split_has_unseen_sentences_and_voices():
    plan = plan_utterances(minutes=30, seed=0, test_share=0.2)
    train = [u for u in plan if u.split == "train"]
    test = [u for u in plan if u.split == "test"]
    assert not {u.text for u in train} & {u.text for u in test}
    assert not {u.voice for u in train} & {u.voice for u in test}
    assert len({u.text for u in plan}) == len(plan)  # many different sentences
    assert len({u.voice for u in train}) > 20


def test_existing_folder_refused(corpus):
    with pytest.raises(WuxError, match="already exists"):
        synthesize_corpus(corpus, minutes=0.5, seed=1)
