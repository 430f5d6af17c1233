"""Fixtures of the training tests: a small synthetic corpus and a tokenizer of exactly the tiny spec's size."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.conftest import SPECS_DIR

TINY_TRAIN = SPECS_DIR / "tiny-train.yaml"
WORDS = ("the cat dog sat on a mat ran fast slow big small red blue green house tree sun moon star "
         "river hill road car bird fish eats sleeps sings reads writes happy sad old new warm cold").split()


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    """A folder of 10 plain-text documents of 40 seeded random sentences each."""
    rng = random.Random(0)
    root = tmp_path_factory.mktemp("corpus")
    for i in range(10):
        lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 10))).capitalize() + "." for _ in range(40)]
        (root / f"doc{i:02d}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def tokenizer_file(corpus, tmp_path_factory) -> Path:
    """A byte-level BPE tokenizer of exactly 320 tokens (the vocab_size of specs/tiny-train.yaml)."""
    from blockforge.data.tokenizer import train_tokenizer
    from blockforge.spec.training import TokenizerSpec

    texts = [p.read_text() for p in sorted(corpus.iterdir())]
    tok = train_tokenizer(TokenizerSpec(type="bpe", min_frequency=1), texts, vocab_size=320)
    assert tok.get_vocab_size() == 320
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    tok.save(str(path))
    return path


@pytest.fixture
def tiny_overrides(tokenizer_file):
    """Overrides that make specs/tiny-train.yaml train on the synthetic corpus with the fixture tokenizer."""
    return [f"data.tokenizer={{type: file, path: '{tokenizer_file}'}}"]


@pytest.fixture(autouse=True)
def one_thread():
    """The tiny models of these tests run fastest on one intra-op thread (and CI's 2 cores are shared by
    several test processes); the previous setting is restored."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
