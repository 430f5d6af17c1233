"""Norms, activations, feed-forward networks, MoE, embeddings and heads against references written here
or torch's own modules. Tolerance: 1e-5 absolute in float32."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from blockforge.components.activation import ReLUSquared
from blockforge.components.embedding import TokenEmbedding
from blockforge.components.feedforward import GLU, MLP
from blockforge.components.head import ClassificationHead, HiddenStates, LMHead
from blockforge.components.moe import MixtureOfExperts
from blockforge.components.norm import RMSNorm

ATOL = 1e-5


def test_rmsnorm_matches_torch_rmsnorm_and_unit_offset():
    torch.manual_seed(0)
    x = torch.randn(3, 4, 10)
    ours = RMSNorm(dim=10, eps=1e-6, unit_offset=True)
    assert torch.equal(ours.weight, torch.zeros(10))  # (1 + w) starts at scale one
    with torch.no_grad():
        ours.weight.normal_()
    ref = nn.RMSNorm(10, eps=1e-6)
    with torch.no_grad():
        ref.weight.copy_(1 + ours.weight)
    torch.testing.assert_close(ours(x), ref(x), atol=ATOL, rtol=0)
    plain = RMSNorm(dim=10, eps=1e-6)
    with torch.no_grad():
        plain.weight.copy_(ref.weight)
    torch.testing.assert_close(plain(x), ref(x), atol=ATOL, rtol=0)


def test_rmsnorm_keeps_float64_and_upcasts_half():
    """float64 is computed in float64 (not rounded through float32); bfloat16 is computed in float32."""
    torch.manual_seed(0)
    x = torch.randn(3, 10, dtype=torch.float64)
    ours = RMSNorm(dim=10, unit_offset=True).double()
    with torch.no_grad():
        ours.weight.normal_()
    want = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * (1 + ours.weight)
    assert ours(x).dtype == torch.float64
    torch.testing.assert_close(ours(x), want, atol=1e-13, rtol=0)
    half = ours.to(torch.bfloat16)(x.to(torch.bfloat16))
    assert half.dtype == torch.bfloat16
    torch.testing.assert_close(half, want.to(torch.bfloat16), atol=0.05, rtol=0.02)


def test_activations():
    x = torch.linspace(-3, 3, 25)
    torch.testing.assert_close(ReLUSquared()(x), torch.clamp(x, min=0) ** 2, atol=ATOL, rtol=0)


@pytest.mark.parametrize(("act", "fn"), [(nn.SiLU(), lambda z: z * torch.sigmoid(z)),
                                          (nn.GELU(approximate="tanh"), lambda z: 0.5 * z * (1 + torch.tanh(
                                              math.sqrt(2 / math.pi) * (z + 0.044715 * z**3)))),
                                          (nn.ReLU(), lambda z: z.clamp(min=0))])
def test_glu_matches_formula(act, fn):
    torch.manual_seed(1)
    glu = GLU(d_model=8, hidden=12, activation=act)
    x = torch.randn(2, 3, 8)
    want = (fn(x @ glu.gate.weight.T) * (x @ glu.up.weight.T)) @ glu.down.weight.T
    torch.testing.assert_close(glu(x), want, atol=ATOL, rtol=0)


@pytest.mark.parametrize("gated", [False, True])
def test_moe_shared_expert_adds_to_the_routed_output(gated):
    """DeepSeekMoE / Qwen2-MoE: out = routed(x) + shared(x), times sigmoid(w . x) when gated."""
    torch.manual_seed(3)
    experts = [MLP(d_model=8, hidden=6, activation=nn.ReLU()) for _ in range(4)]
    shared = MLP(d_model=8, hidden=10, activation=nn.ReLU())
    moe = MixtureOfExperts(d_model=8, experts=experts, top_k=2, shared=shared, shared_gate=gated)
    routed = MixtureOfExperts(d_model=8, experts=experts, top_k=2)
    routed.router.load_state_dict(moe.router.state_dict())
    x = torch.randn(2, 5, 8)
    gate = torch.sigmoid(x @ moe.shared_gate.weight.T) if gated else 1.0
    torch.testing.assert_close(moe(x), routed(x) + gate * shared(x), atol=ATOL, rtol=0)
    with pytest.raises(ValueError, match="shared expert"):
        MixtureOfExperts(d_model=8, experts=experts, shared_gate=True)


def test_moe_matches_a_per_token_reference_and_its_load_balancing_loss():
    torch.manual_seed(2)
    experts = [MLP(d_model=8, hidden=6, activation=nn.ReLU()) for _ in range(4)]
    moe = MixtureOfExperts(d_model=8, experts=experts, top_k=2)
    x = torch.randn(2, 5, 8)
    got = moe(x)
    flat = x.reshape(-1, 8)
    want = torch.zeros_like(flat)
    counts = torch.zeros(4)
    probs_all = torch.softmax(flat @ moe.router.weight.T, -1)
    for n in range(flat.shape[0]):
        p = probs_all[n]
        top = torch.topk(p, 2)
        w = top.values / top.values.sum()
        for weight, e in zip(w, top.indices):
            want[n] += weight * experts[e](flat[n : n + 1])[0]
            counts[e] += 1
    torch.testing.assert_close(got.reshape(-1, 8), want, atol=ATOL, rtol=0)
    expected_aux = 4 * ((counts / counts.sum()) * probs_all.mean(0)).sum()
    torch.testing.assert_close(moe.aux_loss, expected_aux, atol=ATOL, rtol=0)
    moe.aux_loss.backward()  # the router learns from the balancing loss
    assert moe.router.weight.grad is not None and moe.router.weight.grad.abs().sum() > 0


def test_token_embedding_scale_and_token_types():
    torch.manual_seed(3)
    emb = TokenEmbedding(vocab_size=11, d_model=4, scale="sqrt_d_model", token_types=2)
    ids = torch.tensor([[1, 2, 3]])
    types = torch.tensor([[0, 1, 1]])
    want = emb.weight[ids] * 2.0 + emb.token_type.weight[types]
    torch.testing.assert_close(emb(ids, types), want, atol=ATOL, rtol=0)
    torch.testing.assert_close(emb(ids), emb.weight[ids] * 2.0 + emb.token_type.weight[0], atol=ATOL, rtol=0)
    assert set(emb.state_dict()) == {"weight", "token_type.weight"}


def test_lm_head_softcap_and_tying():
    torch.manual_seed(4)
    emb = nn.Embedding(7, 4)
    head = LMHead(d_model=4, vocab_size=7, tied=True, softcap=2.0)
    x = torch.randn(2, 3, 4) * 10
    logits = head(x, embedding=emb)
    torch.testing.assert_close(logits, 2.0 * torch.tanh((x @ emb.weight.T) / 2.0), atol=ATOL, rtol=0)
    assert logits.abs().max() <= 2.0


@pytest.mark.parametrize("pooling", ["cls", "mean", "last"])
def test_classifier_pooling(pooling):
    torch.manual_seed(5)
    head = ClassificationHead(d_model=6, classes=3, pooling=pooling, pooler=nn.Tanh(), output=nn.Softmax(-1))
    x = torch.randn(2, 4, 6)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    pooled = {"cls": x[:, 0], "mean": torch.stack([x[0].mean(0), x[1, :2].mean(0)]),
              "last": torch.stack([x[0, 3], x[1, 1]])}[pooling]
    want = torch.softmax(head.proj(torch.tanh(head.pool(pooled))), -1)
    got = head(x, mask=mask)
    torch.testing.assert_close(got, want, atol=ATOL, rtol=0)
    torch.testing.assert_close(got.sum(-1), torch.ones(2), atol=ATOL, rtol=0)


def test_hidden_states_head_is_identity():
    x = torch.randn(2, 3, 4)
    assert HiddenStates()(x) is x


# --- float64 stays float64 (half precision is upcast to float32, float64 is never downcast) ---------------

F64_ATOL = 1e-10


@pytest.mark.parametrize("unit_offset", [False, True])
def test_rmsnorm_float64_matches_the_exact_formula(unit_offset):
    torch.manual_seed(10)
    x = torch.randn(3, 4, 10, dtype=torch.float64)
    norm = RMSNorm(dim=10, eps=1e-6, unit_offset=unit_offset).double()
    with torch.no_grad():
        norm.weight.normal_()
    scale = 1 + norm.weight if unit_offset else norm.weight
    want = x / torch.sqrt((x * x).mean(-1, keepdim=True) + 1e-6) * scale  # float64 throughout
    got = norm(x)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, want, atol=F64_ATOL, rtol=0)


def test_rmsnorm_upcasts_half_precision():
    x = torch.randn(2, 8) * 100
    got = RMSNorm(dim=8)(x.to(torch.bfloat16))
    assert got.dtype == torch.bfloat16
    xf = x.to(torch.bfloat16).float()  # the bfloat16 input, computed in float32
    want = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-6)
    torch.testing.assert_close(got, want.to(torch.bfloat16), atol=0, rtol=0)


def _moe_reference(moe: MixtureOfExperts, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token loop: softmax over all experts, top-k, renormalise over the k, weighted sum; and the aux loss."""
    c = x.shape[-1]
    n_exp = len(moe.experts)
    flat = x.reshape(-1, c)
    want = torch.zeros_like(flat)
    counts = torch.zeros(n_exp, dtype=x.dtype)
    probs_all = torch.softmax(flat @ moe.router.weight.T, -1)
    for n in range(flat.shape[0]):
        top = torch.topk(probs_all[n], moe.top_k)
        w = top.values / top.values.sum()
        for weight, e in zip(w, top.indices):
            want[n] += weight * moe.experts[e](flat[n : n + 1])[0]
            counts[e] += 1
    return want.reshape(x.shape), n_exp * ((counts / counts.sum()) * probs_all.mean(0)).sum()


def test_moe_float64_routes_and_weights_in_float64():
    torch.manual_seed(11)
    experts = [MLP(d_model=8, hidden=6, activation=nn.ReLU()) for _ in range(4)]
    moe = MixtureOfExperts(d_model=8, experts=experts, top_k=2).double()
    x = torch.randn(2, 5, 8, dtype=torch.float64)
    got = moe(x)
    want, aux = _moe_reference(moe, x)
    assert got.dtype == moe.aux_loss.dtype == torch.float64
    torch.testing.assert_close(got, want, atol=F64_ATOL, rtol=0)
    torch.testing.assert_close(moe.aux_loss, aux, atol=F64_ATOL, rtol=0)


# --- MoE on the meta device: balanced top-k routing, so FLOPs are those of k experts per token ----------


@pytest.mark.parametrize(("tokens", "n_exp", "top_k"), [(16, 4, 2), (10, 4, 2), (7, 3, 1), (5, 8, 3), (6, 4, 4)])
def test_moe_on_meta_counts_top_k_expert_flops_exactly(tokens, n_exp, top_k):
    from torch.utils.flop_counter import FlopCounterMode

    d, hidden = 8, 12
    with torch.device("meta"):
        moe = MixtureOfExperts(d_model=d, experts=[GLU(d_model=d, hidden=hidden, activation=nn.SiLU())
                                                   for _ in range(n_exp)], top_k=top_k)
        x = torch.empty(1, tokens, d)
    with FlopCounterMode(display=False) as counter:
        y = moe(x)
    assert y.shape == (1, tokens, d) and y.is_meta
    expert_matmul_params = 3 * d * hidden  # gate, up, down; no biases
    router = 2 * tokens * d * n_exp
    assert counter.get_total_flops() == 2 * tokens * top_k * expert_matmul_params + router
    # the stand-in routing is a valid top-k routing: k distinct experts per token, balanced to within one
    slots = [moe._balanced_slots(e, tokens, torch.device("cpu")) for e in range(n_exp)]
    sizes = [len(tok) for tok, _ in slots]
    assert sum(sizes) == tokens * top_k and max(sizes) - min(sizes) <= 1
    pairs = {(int(t), int(s)) for tok, slot in slots for t, s in zip(tok, slot)}
    assert pairs == {(t, s) for t in range(tokens) for s in range(top_k)}
    experts_of = [{e for e, (tok, _) in enumerate(slots) if t in tok.tolist()} for t in range(tokens)]
    assert all(len(es) == top_k for es in experts_of)


# --- pooling: last, with left and right padding -------------------------------------------------------


@pytest.mark.parametrize("side", ["right", "left", "none"])
def test_last_pooling_takes_the_last_real_token_with_either_padding(side):
    torch.manual_seed(12)
    head = ClassificationHead(d_model=6, classes=3, pooling="last")
    x = torch.randn(3, 5, 6)
    lengths = [5, 3, 1]
    if side == "right":
        mask = torch.tensor([[1] * n + [0] * (5 - n) for n in lengths])
        last = [4, 2, 0]
    elif side == "left":
        mask = torch.tensor([[0] * (5 - n) + [1] * n for n in lengths])
        last = [4, 4, 4]
    else:
        mask, last = None, [4, 4, 4]
    want = head.proj(torch.stack([x[b, i] for b, i in enumerate(last)]))
    torch.testing.assert_close(head(x, mask=mask), want, atol=ATOL, rtol=0)


def test_last_pooling_of_a_left_padded_row_never_reads_padding():
    torch.manual_seed(13)
    head = ClassificationHead(d_model=4, classes=2, pooling="last")
    x = torch.randn(1, 4, 4)
    mask = torch.tensor([[0, 0, 1, 1]])
    x2 = x.clone()
    x2[0, :2] += 100.0  # change only the padding
    torch.testing.assert_close(head(x2, mask=mask), head(x, mask=mask), atol=0, rtol=0)


# --- token types ----------------------------------------------------------------------------------------


def test_token_types_without_a_token_type_table_are_refused():
    emb = TokenEmbedding(vocab_size=11, d_model=4)
    ids = torch.tensor([[1, 2, 3]])
    with pytest.raises(ValueError, match=r"no token-type embeddings.*embedding\.token_types"):
        emb(ids, torch.zeros_like(ids))
    assert emb(ids).shape == (1, 3, 4)  # without token types it works as before


@pytest.mark.parametrize("n_tokens,experts,top_k", [(2, 18, 1), (1, 5, 2), (3, 4, 1)])
def test_moe_on_meta_with_more_experts_than_routed_slots(n_tokens, experts, top_k):
    """Issue 18 item 5: on meta (summaries) the balanced routing gives each of the N * k slots one expert,
    and an expert past the last slot gets none, rather than crashing in ``arange``."""
    with torch.device("meta"):
        moe = MixtureOfExperts(d_model=4, experts=[nn.Linear(4, 4) for _ in range(experts)], top_k=top_k)
        out = moe(torch.empty(1, n_tokens, 4))
    assert out.shape == (1, n_tokens, 4) and out.is_meta
    got = [len(moe._balanced_slots(e, n_tokens, torch.device("meta"))[0]) for e in range(experts)]
    assert sum(got) == n_tokens * top_k and max(got) - min(got) <= 1
