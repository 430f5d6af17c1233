"""``blockforge.generate``: sampling filters against transformers' logits processors, seeds, end of sequence,
stop sequences and strings, streaming, left-padded batches against each row alone, and refusals."""

from __future__ import annotations

import pytest
import torch

from blockforge.build import build_model
from blockforge.generation import GenerationError, filter_top_k, filter_top_p, generate
from blockforge.generation.sampling import apply_repetition_penalty
from tests.modeldir.tiny_tokenizer import VOCAB, byte_tokenizer


@pytest.fixture(scope="module")
def model():
    return build_model("specs/tiny-llama.yaml", seed=0, overrides=["model.max_len=40", "model.init_std=0.3"]).eval()


def test_filters_match_transformers_processors():
    transformers = pytest.importorskip("transformers")
    from transformers.generation.logits_process import (
        RepetitionPenaltyLogitsProcessor, TopKLogitsWarper, TopPLogitsWarper,
    )

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 50, generator=g) * 3
    ids = torch.randint(0, 50, (4, 7), generator=g)
    seen = torch.zeros(4, 50, dtype=torch.bool).scatter(1, ids, True)
    for k in (1, 5, 49):
        assert torch.equal(filter_top_k(logits, k), TopKLogitsWarper(k)(ids, logits.clone()))
    for p in (0.05, 0.5, 0.9):
        assert torch.equal(filter_top_p(logits, p).isinf(), TopPLogitsWarper(p)(ids, logits.clone()).isinf()), p
    torch.testing.assert_close(apply_repetition_penalty(logits, seen, 1.3),
                               RepetitionPenaltyLogitsProcessor(1.3)(ids, logits.clone()), atol=0, rtol=0)
    assert transformers is not None


def test_seeded_sampling_is_reproducible_and_top_k_1_is_greedy(model):
    ids = torch.randint(0, 97, (2, 5))
    a = generate(model, ids, max_new_tokens=12, do_sample=True, seed=7, temperature=1.5)
    assert torch.equal(a, generate(model, ids, max_new_tokens=12, do_sample=True, seed=7, temperature=1.5))
    assert not torch.equal(a, generate(model, ids, max_new_tokens=12, do_sample=True, seed=8, temperature=1.5))
    assert torch.equal(generate(model, ids, max_new_tokens=12, do_sample=True, top_k=1, seed=1),
                       generate(model, ids, max_new_tokens=12))


def test_left_padded_batch_gives_each_row_its_own_continuation(model):
    rows = [torch.randint(1, 97, (n,)) for n in (7, 3, 5)]
    ids = torch.zeros(3, 7, dtype=torch.long)
    mask = torch.zeros(3, 7, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, 7 - len(r):], mask[i, 7 - len(r):] = r, 1
    batch = generate(model, ids, mask, max_new_tokens=16)
    for i, r in enumerate(rows):
        alone = generate(model, r[None], max_new_tokens=16)
        assert torch.equal(batch[i, 7:], alone[0, len(r):]), i


def test_eos_ends_rows_then_pads_and_stops_when_all_ended(model):
    ids = torch.randint(0, 97, (2, 4))
    free = generate(model, ids, max_new_tokens=10)
    eos = int(free[0, 6])  # row 0's third new token
    out = generate(model, ids, max_new_tokens=10, eos_token_id=eos, pad_token_id=96)
    first = (out[0, 4:] == eos).nonzero()[0, 0].item()
    assert out[0, 4 + first + 1:].eq(96).all() and torch.equal(out[0, :4 + first + 1], free[0, :4 + first + 1])
    both = generate(model, ids[:1], max_new_tokens=10, eos_token_id=eos)
    assert both.shape[1] == 4 + first + 1  # stopped as soon as every row had ended


def test_stop_sequences_and_stop_strings(model):
    ids = torch.randint(0, 97, (1, 4))
    free = generate(model, ids, max_new_tokens=10)
    stop = free[0, 7:9].tolist()
    out = generate(model, ids, max_new_tokens=10, stop_sequences=[stop])
    assert out[0, -2:].tolist() == stop and out.shape[1] <= 9
    tok = byte_tokenizer()
    m = build_model("specs/tiny.yaml", seed=0, overrides=[f"model.vocab_size={VOCAB}", "model.max_len=40"]).eval()
    prompt = torch.tensor([tok.encode("ab").ids])
    text = tok.decode(generate(m, prompt, max_new_tokens=12)[0, 2:].tolist())
    needle = text[3:5]
    short = generate(m, prompt, max_new_tokens=12, stop_strings=[needle], tokenizer=tok)
    assert needle in tok.decode(short[0, 2:].tolist()) and short.shape[1] < 14


def test_streamer_receives_every_token_then_end(model):
    class Recorder:
        def __init__(self):
            self.tokens, self.ended = [], 0

        def put(self, value):
            self.tokens.append(value.tolist())

        def end(self):
            self.ended += 1

    rec = Recorder()
    out = generate(model, torch.randint(0, 97, (2, 3)), max_new_tokens=6, streamer=rec)
    assert torch.tensor(rec.tokens).T.tolist() == out[:, 3:].tolist() and rec.ended == 1


def test_head_runs_on_the_last_position_only(model):
    ids = torch.randint(0, 97, (2, 9))
    with torch.no_grad():
        last = model(ids, logits_to_keep=1)
        assert last.shape == (2, 1, 97)
        torch.testing.assert_close(last, model(ids)[:, -1:], atol=1e-6, rtol=0)


def test_refusals_are_clear(model):
    ids = torch.ones(2, 5, dtype=torch.long)
    right = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    with pytest.raises(GenerationError, match="left padding"):
        generate(model, ids, right, max_new_tokens=2)
    with pytest.raises(GenerationError, match="exceed max_len=40"):
        generate(model, ids, max_new_tokens=36)
    with pytest.raises(GenerationError, match="top_p=1.5"):
        generate(model, ids, max_new_tokens=2, top_p=1.5)
    with pytest.raises(GenerationError, match="stop_strings need a tokenizer"):
        generate(model, ids, max_new_tokens=2, stop_strings=["x"])
    encdec = build_model("specs/tiny-encoder-decoder.yaml").eval()
    with pytest.raises(GenerationError, match="decoder_start_token_id"):
        generate(encdec, ids, max_new_tokens=2)
    bidirectional_lstm = "model.plan.variants.recurrent={attention: {type: lstm, bidirectional: true}}"
    for spec, override in (("specs/tiny.yaml", "model.block.attention.causal=false"),
                           ("specs/hybrid-lstm-attention.yaml", bidirectional_lstm)):
        both_ways = build_model(spec, overrides=[override], device="meta")
        with pytest.raises(GenerationError, match=r"bidirectional model: blocks\.0\.attention"):
            generate(both_ways, ids, max_new_tokens=2)


def test_training_mode_is_restored(model):
    model.train()
    try:
        generate(model, torch.ones(1, 2, dtype=torch.long), max_new_tokens=2)
        assert model.training
    finally:
        model.eval()
