"""Attention numerics against references written here (explicit repeat of K/V, explicit softmax) and
torch's ``nn.MultiheadAttention``; mask perturbation tests. Tolerance: 1e-5 absolute in float32."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from blockforge.components.attention import CrossAttention, MultiHeadAttention
from blockforge.components.positional import ALiBi, RotaryEmbedding

ATOL = 1e-5


def reference_attention(attn: MultiHeadAttention, x, *, pad=None, positions=None):
    """Independent formulation: separate q/k/v, K/V repeated per group, explicit masked softmax."""
    b, t, _ = x.shape
    h, kv, d = attn.heads, attn.kv_heads, attn.head_dim
    if attn.qkv is not None:
        wq, wk, wv = attn.qkv.weight.split([h * d, kv * d, kv * d])
        bq, bk, bv = attn.qkv.bias.split([h * d, kv * d, kv * d]) if attn.qkv.bias is not None else (None,) * 3
    else:
        wq, bq = attn.q.weight, attn.q.bias
        wk, wv = attn.kv.weight.split([kv * d, kv * d])
        bk, bv = attn.kv.bias.split([kv * d, kv * d]) if attn.kv.bias is not None else (None, None)
    lin = nn.functional.linear
    q = lin(x, wq, bq).view(b, t, h, d).transpose(1, 2)
    k = lin(x, wk, bk).view(b, t, kv, d).transpose(1, 2)
    v = lin(x, wv, bv).view(b, t, kv, d).transpose(1, 2)
    if attn.q_norm is not None:
        q, k = attn.q_norm(q), attn.k_norm(k)
    bias = torch.zeros(h, t, t)
    if positions is not None:
        q, k = positions.rotate(q, k)
        extra = positions.score_bias(h, t, t, q.dtype)
        if extra is not None:
            bias = extra
    k = k.repeat_interleave(h // kv, dim=1)
    v = v.repeat_interleave(h // kv, dim=1)
    s = q @ k.transpose(-2, -1) * attn.scale
    if attn.softcap is not None:
        s = attn.softcap * torch.tanh(s / attn.softcap)
    s = s + bias
    allowed = torch.ones(t, t, dtype=torch.bool)
    i, j = torch.arange(t)[:, None], torch.arange(t)[None, :]
    if attn.causal:
        allowed &= j <= i
    if attn.window is not None:
        allowed &= (i - j) < attn.window
        if not attn.causal:
            allowed &= (j - i) < attn.window
    allowed = allowed.expand(b, 1, t, t)
    if pad is not None:
        allowed = allowed & pad.bool()[:, None, None, :]
    s = s.masked_fill(~allowed, float("-inf"))
    y = torch.softmax(s, -1) @ v
    return attn.out(y.transpose(1, 2).reshape(b, t, h * d))


CASES = {
    "mha": {},
    "causal": {"causal": True},
    "gqa": {"kv_heads": 2, "causal": True},
    "mqa-window": {"kv_heads": 1, "causal": True, "window": 3},
    "window-bidirectional": {"window": 2},
    "softcap": {"kv_heads": 2, "causal": True, "softcap": 5.0},
    "softcap-window": {"kv_heads": 2, "causal": True, "softcap": 5.0, "window": 3},
    "head-dim-scale": {"kv_heads": 2, "head_dim": 6, "scale": 0.3, "causal": True},
    "qk-norm": {"kv_heads": 2, "qk_norm": True},
    "no-bias": {"bias": False},
}


def make(case: str, d=16, h=4) -> MultiHeadAttention:
    kw = dict(CASES[case])
    if kw.pop("qk_norm", False):
        hd = kw.get("head_dim", d // h)
        kw["q_norm"], kw["k_norm"] = nn.RMSNorm(hd), nn.RMSNorm(hd)
    attn = MultiHeadAttention(d_model=d, heads=h, **kw).eval()
    with torch.no_grad():
        for p in attn.parameters():
            p.normal_(0, 0.3)
    return attn


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("pos", ["none", "rope", "rope-partial", "alibi"])
@pytest.mark.parametrize("padded", [False, True])
def test_attention_matches_reference(case, pos, padded):
    torch.manual_seed(0)
    attn = make(case)
    x = torch.randn(2, 7, 16)
    pad = torch.tensor([[1] * 7, [1] * 5 + [0] * 2]) if padded else None
    module = {"none": None, "rope": RotaryEmbedding(theta=100.0), "rope-partial": RotaryEmbedding(fraction=0.5,
              scaling=2.0), "alibi": ALiBi()}[pos]
    positions = module.attention_positions(7, device=x.device) if module is not None else None
    got = attn(x, mask=pad, positions=positions)
    want = reference_attention(attn, x, pad=pad, positions=positions)
    if padded:
        keep = pad.bool()
        got, want = got[keep], want[keep]
    torch.testing.assert_close(got, want, atol=ATOL, rtol=0)


@pytest.mark.parametrize("case", ["softcap", "softcap-window"])
def test_softcap_math_path_keeps_float64(case):
    """The explicit (soft-cap) path computes its softmax in float64 for float64 inputs."""
    torch.manual_seed(1)
    attn = make(case).double()
    x = torch.randn(2, 7, 16, dtype=torch.float64)
    pad = torch.tensor([[1] * 7, [1] * 5 + [0] * 2])
    positions = RotaryEmbedding().attention_positions(7, device=x.device)
    got = attn(x, mask=pad, positions=positions)[pad.bool()]
    want = reference_attention(attn, x, pad=pad, positions=positions)[pad.bool()]
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, want, atol=1e-12, rtol=0)


def test_gqa_does_not_repeat_keys_and_values(monkeypatch):
    """The SDPA path hands K/V with kv_heads heads to the kernel (enable_gqa), never repeated copies."""
    attn = make("gqa")
    seen = {}
    real = torch.nn.functional.scaled_dot_product_attention

    def spy(q, k, v, **kw):
        seen.update(q=q.shape, k=k.shape, gqa=kw.get("enable_gqa"))
        return real(q, k, v, **kw)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    attn(torch.randn(2, 5, 16))
    assert seen["q"][1] == 4 and seen["k"][1] == 2 and seen["gqa"] is True


@pytest.mark.parametrize("case", ["causal", "gqa", "mqa-window", "softcap-window"])
def test_no_position_sees_the_future_or_outside_its_window(case):
    torch.manual_seed(4)
    attn = make(case)
    t = 8
    window = attn.window or t
    x = torch.randn(1, t, 16)
    positions = RotaryEmbedding().attention_positions(t, device=x.device)
    base = attn(x, positions=positions)
    for j in range(t):
        x2 = x.clone()
        x2[0, j] += 10.0
        changed = (attn(x2, positions=positions) - base).abs().amax(-1)[0] > 1e-6  # (T,)
        visible = [(j <= i < j + window) for i in range(t)]
        for i in range(t):
            assert bool(changed[i]) == visible[i], f"query {i} {'saw' if changed[i] else 'missed'} key {j}"


def test_bidirectional_window_is_symmetric():
    torch.manual_seed(5)
    attn = make("window-bidirectional")  # window 2: |i - j| < 2
    x = torch.randn(1, 6, 16)
    base = attn(x)
    x2 = x.clone()
    x2[0, 3] += 10.0
    changed = ((attn(x2) - base).abs().amax(-1)[0] > 1e-6).tolist()
    assert changed == [False, False, True, True, True, False]


def test_cross_attention_matches_torch_multihead_attention():
    torch.manual_seed(6)
    d, h = 24, 3
    ours = CrossAttention(d_model=d, heads=h).eval()
    ref = nn.MultiheadAttention(d, h, batch_first=True).eval()
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([ours.q.weight, ours.kv.weight]))
        ref.in_proj_bias.copy_(torch.cat([ours.q.bias, ours.kv.bias]))
        ref.out_proj.load_state_dict(ours.out.state_dict())
    x, mem = torch.randn(2, 5, d), torch.randn(2, 7, d)
    mpad = torch.ones(2, 7, dtype=torch.long)
    mpad[1, 4:] = 0
    want, _ = ref(x, mem, mem, key_padding_mask=mpad == 0, need_weights=False)
    torch.testing.assert_close(ours(x, memory=mem, memory_mask=mpad), want, atol=ATOL, rtol=0)


def test_gqa_requires_dividing_heads():
    with pytest.raises(ValueError, match="kv_heads=3 does not divide heads=4"):
        MultiHeadAttention(d_model=16, heads=4, kv_heads=3)
