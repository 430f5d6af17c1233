"""Greedy generation of transformers models imported into blockforge gives transformers' ``generate``'s
tokens: 32 new tokens, a batch with left padding, random-initialised tiny models built offline; each cached
step's logits equal a full recomputation to 1e-5."""

from __future__ import annotations

import os

import pytest

transformers = pytest.importorskip(
    "transformers", reason="the hf extra is not installed (pip install 'blockforge[hf]'); CI installs it"
)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from blockforge.generation import generate  # noqa: E402
from blockforge.interop import from_hf_model  # noqa: E402
from tests.generation.test_cache import assert_cached_steps_match  # noqa: E402
from tests.interop.families import FAMILIES, VOCAB  # noqa: E402
from tests.interop.test_parity import perturb_norms  # noqa: E402

NEW = 32
LONG = {"gpt2": {"n_positions": 64}}


def left_padded(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, VOCAB, (3, 7), generator=g)
    mask = torch.ones_like(ids)
    mask[0, :3] = 0
    mask[2, :1] = 0
    return ids * mask, mask


@pytest.mark.slow
@pytest.mark.parametrize("family", ["gpt2", "llama-gqa", "mistral", "gemma2", "gpt_neox"])
def test_greedy_tokens_equal_transformers_generate(family):
    torch.manual_seed(0)
    overrides = LONG.get(family, {"max_position_embeddings": 64})
    hf = FAMILIES[family].make(**overrides)
    perturb_norms(hf)
    # float64 leaves no near-ties for argmax to break differently; transformers' eager Gemma 2 returns NaN for
    # left-padded rows in float64 (its masks), so it runs in float32 (logits agree to ~3e-6 there)
    hf = hf.to(torch.float32 if family == "gemma2" else torch.float64).eval()
    ours = from_hf_model(hf)
    ids, mask = left_padded(1)
    if family == "mistral":
        assert hf.config.sliding_window < ids.shape[1] + NEW  # the window is shorter than the sequence
    with torch.no_grad():
        want = hf.generate(ids, attention_mask=mask, max_new_tokens=NEW, min_new_tokens=NEW, do_sample=False,
                           pad_token_id=0, eos_token_id=None, bos_token_id=None)
    got = generate(ours, ids, mask, max_new_tokens=NEW)
    assert got.shape == want.shape == (3, 7 + NEW)
    assert torch.equal(got, want), (got - want).abs().sum(-1)
    assert_cached_steps_match(ours, ids, mask, steps=4)  # each cached step's logits, to 1e-5


def test_gpt2_left_padding_leaves_the_real_tokens_unchanged():
    """Issue 12 item 6: 5 tokens after 3 left pads gave logits 0.33 away from the unpadded run."""
    torch.manual_seed(0)
    ours = from_hf_model(FAMILIES["gpt2"].make().eval())
    ids = torch.randint(0, VOCAB, (1, 5))
    padded = torch.cat((torch.zeros(1, 3, dtype=torch.long), ids), 1)
    mask = torch.cat((torch.zeros(1, 3, dtype=torch.long), torch.ones(1, 5, dtype=torch.long)), 1)
    with torch.no_grad():
        diff = (ours(ids) - ours(padded, mask)[:, 3:]).abs().max().item()
    assert diff < 1e-5
