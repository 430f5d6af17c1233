"""Corpus readers, packing, the held-out split and the seeded order."""

from __future__ import annotations

import json

import pytest
import torch

from blockforge.data.corpus import DataError, Doc, guess_source, read_source
from blockforge.data.windows import Order, make_windows, split_documents
from blockforge.spec.training import DataSource


class _Enc:
    def __init__(self, ids):
        self.ids = ids


class CharTokenizer:
    """One id per character (ord % 50 + 10), enough to check packing against a hand-written reference."""

    def encode_batch(self, texts, add_special_tokens=False):
        return [_Enc([ord(c) % 50 + 10 for c in t]) for t in texts]


def test_packing_matches_a_reference_stream():
    docs = [Doc(text="abcde"), Doc(text="fg"), Doc(text="hijklmn")]
    w = make_windows(docs, CharTokenizer(), seq_len=4, extra=1, specials={"eos": 1, "pad": 0})
    stream = [ord(c) % 50 + 10 for c in "abcde"] + [1] + [ord(c) % 50 + 10 for c in "fg"] + [1] + \
             [ord(c) % 50 + 10 for c in "hijklmn"] + [1]
    expected = [stream[i: i + 5] for i in range(0, len(stream) - 1, 4) if i + 5 <= len(stream)]
    assert w.tokens.tolist() == expected
    assert w.mask.all() and w.targets.all()


def test_a_corpus_shorter_than_a_window_is_padded_and_masked():
    w = make_windows([Doc(text="ab")], CharTokenizer(), seq_len=8, extra=1, specials={"eos": 1, "pad": 0})
    assert w.tokens.shape == (1, 9) and w.mask[0].tolist() == [1, 1, 1] + [0] * 6
    assert w.targets[0].tolist() == w.mask[0].tolist()


def test_masked_objective_never_chooses_separators():
    w = make_windows([Doc(text="abc"), Doc(text="de")], CharTokenizer(), seq_len=3, extra=0,
                     specials={"eos": 1, "pad": 0})
    assert ((w.tokens == 1) <= (w.targets == 0)).all()


def test_split_is_seeded_disjoint_and_covers_everything():
    docs = [Doc(text=str(i)) for i in range(20)]
    train, held = split_documents(docs, fraction=0.2, seed=3)
    again = split_documents(docs, fraction=0.2, seed=3)
    assert (train, held) == again and len(held) == 4
    assert sorted(d.text for d in train + held) == sorted(d.text for d in docs)
    assert split_documents(docs, fraction=0.2, seed=4)[1] != held
    assert split_documents(docs[:1], fraction=0.5, seed=0) == (docs[:1], [])


def test_order_is_a_permutation_per_epoch_and_depends_only_on_seed_and_position():
    o = Order(7, seed=1)
    first, second = o.indices(0, 7), o.indices(7, 7)
    assert sorted(first) == sorted(second) == list(range(7)) and first != second
    assert Order(7, seed=1).indices(5, 6) == (first + second)[5:11]
    assert Order(7, seed=1, shuffle=False).indices(3, 5) == [3, 4, 5, 6, 0]


def test_conversation_records_are_checked_with_file_and_line(tmp_path):
    path = tmp_path / "chats.jsonl"
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n"
                    + json.dumps({"messages": [{"role": "bot", "content": "x"}]}) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"chats.jsonl:2: messages\[0\] needs a role"):
        read_source(DataSource(format="conversations", path=str(path)))
    path.write_text('{"messages": [}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"chats.jsonl:1:\d+: not JSON"):
        read_source(DataSource(format="conversations", path=str(path)))


def test_missing_files_and_fields_are_named(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_source(DataSource(format="text", path=str(tmp_path / "nope.txt")))
    path = tmp_path / "rows.jsonl"
    path.write_text('{"body": "x"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"rows.jsonl:1: no string field 'text'"):
        read_source(DataSource(format="jsonl", path=str(path)))


def test_guess_source_by_extension(tmp_path):
    chats, rows, txt = tmp_path / "c.jsonl", tmp_path / "r.jsonl", tmp_path / "t.txt"
    chats.write_text('{"messages": []}\n')
    rows.write_text('{"text": "x"}\n')
    txt.write_text("x")
    assert [guess_source(str(p))["format"] for p in (chats, rows, txt, tmp_path)] == \
        ["conversations", "jsonl", "text", "text"]


def test_chatterbot_corpus_is_read_as_alternating_turns():
    pytest.importorskip("chatterbot_corpus", reason="the train extra (chatterbot-corpus) is not installed")
    docs = read_source(DataSource(format="chatterbot", language="english", limit=5))
    assert len(docs) == 5 and all(d.messages[0]["role"] == "user" and d.messages[1]["role"] == "assistant"
                                  for d in docs)
    with pytest.raises(DataError, match="no language 'klingon'"):
        read_source(DataSource(format="chatterbot", language="klingon"))


def test_windows_batch_selects_rows():
    w = make_windows([Doc(text="abcdefghij")], CharTokenizer(), seq_len=2, extra=1, specials={"eos": 1})
    b = w.batch([2, 0])
    assert torch.equal(b["tokens"], w.tokens[[2, 0]])
