"""The losses against references written here (float64, 1e-12): cross-entropy with ignored positions, label
smoothing, PaLM's z-loss, the MoE auxiliary weight, BERT's masking proportions."""

from __future__ import annotations

import torch

from blockforge.components.loss import IGNORE, ClassificationLoss, MaskedLMLoss, NextTokenLoss


def reference_ce(logits, labels, smoothing=0.0):
    """Mean over non-ignored positions of -(1-e) log p_y - e/V sum_v log p_v."""
    logp = torch.log_softmax(logits.double(), dim=-1).reshape(-1, logits.shape[-1])
    y = labels.reshape(-1)
    keep = y != IGNORE
    nll = -logp[keep, y[keep]]
    uniform = -logp[keep].mean(dim=-1)
    return ((1 - smoothing) * nll + smoothing * uniform).mean()


def test_next_token_loss_matches_the_reference():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 11, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 11, (2, 5), generator=g)
    labels[0, :2] = IGNORE
    aux = torch.tensor(0.7, dtype=torch.float64)
    loss = NextTokenLoss(label_smoothing=0.1, z_loss=1e-2, aux_loss_weight=0.5)
    keep = labels.reshape(-1) != IGNORE
    z = torch.logsumexp(logits.reshape(-1, 11), dim=-1)[keep].pow(2).mean()
    expected = reference_ce(logits, labels, 0.1) + 1e-2 * z + 0.5 * aux
    got = loss(logits, labels, aux_loss=aux)
    torch.testing.assert_close(got.double(), expected, rtol=0, atol=1e-6)  # the loss computes in float32
    plain = NextTokenLoss()(logits, labels)
    torch.testing.assert_close(plain.double(), reference_ce(logits, labels), rtol=0, atol=1e-6)


def test_next_token_prepare_shifts_and_ignores_untargeted_tokens():
    tokens = torch.tensor([[5, 6, 7, 8]])
    targets = torch.tensor([[1, 1, 0, 1]])
    out = NextTokenLoss().prepare({"tokens": tokens, "targets": targets, "mask": torch.ones_like(tokens)})
    assert out["input_ids"].tolist() == [[5, 6, 7]] and out["labels"].tolist() == [[6, IGNORE, 8]]


def test_masked_lm_corrupts_about_the_documented_shares():
    n, vocab = 200_000, 1000
    tokens = torch.randint(10, vocab, (1, n), generator=torch.Generator().manual_seed(1))
    targets = torch.ones_like(tokens)
    targets[0, :1000] = 0  # never chosen
    loss = MaskedLMLoss(mask_probability=0.15, vocab_size=vocab)
    out = loss.prepare({"tokens": tokens, "targets": targets, "mask": torch.ones_like(tokens)},
                       generator=torch.Generator().manual_seed(2), special={"mask": 3})
    chosen = out["labels"] != IGNORE
    assert not chosen[0, :1000].any()
    assert torch.equal(out["labels"][chosen], tokens[chosen])
    share = chosen.float().mean().item()
    masked = (out["input_ids"][chosen] == 3).float().mean().item()
    kept = (out["input_ids"][chosen] == tokens[chosen]).float().mean().item()
    assert abs(share - 0.15 * 199 / 200) < 0.005 and abs(masked - 0.8) < 0.01 and abs(kept - 0.1) < 0.01
    assert torch.equal(out["input_ids"][~chosen], tokens[~chosen])


def test_classification_loss_is_cross_entropy_of_the_scores():
    scores = torch.randn(4, 3, dtype=torch.float64)
    labels = torch.tensor([0, 2, 1, 2])
    expected = torch.nn.functional.cross_entropy(scores, labels)
    torch.testing.assert_close(ClassificationLoss()(scores, labels).double(), expected, rtol=0, atol=1e-6)
