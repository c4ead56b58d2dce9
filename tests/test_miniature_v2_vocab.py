"""Miniature task family v2, the tokenizer: merges learned from training text only, yet every held-out phrasing
(set b), in every case and spelling, encodes exactly and decodes back - unseen words fall back to shorter
byte-level pieces, never to an unknown token."""

from __future__ import annotations

import re

import pytest

from longvt_plugins.miniature import task as v1
from longvt_plugins.miniature.v2 import vocab
from longvt_plugins.miniature.v2.questions import CASES, HELDOUT_TEMPLATES, SPELLINGS, TRAIN_TEMPLATES, _case


@pytest.fixture(scope="module")
def tokenizer():
    return vocab.build_tokenizer()


def _words(texts) -> set[str]:
    return {w.lower() for t in texts for w in re.findall(r"[A-Za-z]+", t)}


def test_the_corpus_holds_no_held_out_phrasing():
    text = "\n".join(vocab.corpus()).lower()
    for h in HELDOUT_TEMPLATES:
        for spelling in SPELLINGS:
            assert h.format(colour="red", cw=spelling).lower().rstrip("?.") not in text


def test_held_out_phrasings_round_trip_with_words_the_tokenizer_never_saw(tokenizer):
    unseen = _words(HELDOUT_TEMPLATES) - _words(vocab.corpus()) - _words(TRAIN_TEMPLATES)
    assert {"flickers", "glimpse", "hue", "footage"} <= unseen  # the held-out set really has new words
    vocab_tokens = set(tokenizer.get_vocab())
    for word in unseen:
        assert "Ġ" + word not in vocab_tokens  # not one token: it is spelled from smaller pieces
    for h in HELDOUT_TEMPLATES:
        for spelling in SPELLINGS:
            for case in CASES:
                for colour in ("red", "magenta"):
                    q = _case(h.format(colour=colour, cw=spelling), colour, case)
                    for text in (q, q.rstrip("?.")):
                        ids = tokenizer.encode(text, add_special_tokens=False)
                        assert tokenizer.decode(ids) == text
                        assert tokenizer.unk_token_id is None or tokenizer.unk_token_id not in ids
    odd = "Quelle couleur clignote pendant la scène rouge ? 🙂"  # any UTF-8 text, even outside the corpus' bytes
    assert tokenizer.decode(tokenizer.encode(odd, add_special_tokens=False)) == odd


def test_palette_words_stay_single_tokens(tokenizer):
    # calibrate_projector maps each frame onto its colour word's embedding: every palette word must be one token
    for name in v1.PALETTE:
        assert len(tokenizer.encode(" " + name, add_special_tokens=False)) == 1, name
