"""Numerics against independent references: torch's own modules and the seed guide's code.

Tolerance: 1e-5 absolute in float32 unless stated; 1e-10 in float64.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from blockforge.components.attention import MultiHeadAttention
from blockforge.components.block import TransformerBlock
from blockforge.components.feedforward import MLP
from blockforge.components.masks import attention_mask
from blockforge.components.positional import SinusoidalPositionalEncoding

ATOL = 1e-5


def _block(d, h, ff, position, activation=None):
    return TransformerBlock(
        attention=MultiHeadAttention(d_model=d, heads=h),
        feedforward=MLP(d_model=d, hidden=ff, activation=activation or nn.ReLU()),
        attn_norm=nn.LayerNorm(d),
        ff_norm=nn.LayerNorm(d),
        norm_position=position,
    )


def _copy_to_torch_layer(ours: TransformerBlock, ref: nn.TransformerEncoderLayer) -> None:
    with torch.no_grad():
        ref.self_attn.in_proj_weight.copy_(ours.attention.qkv.weight)
        ref.self_attn.in_proj_bias.copy_(ours.attention.qkv.bias)
        ref.self_attn.out_proj.weight.copy_(ours.attention.out.weight)
        ref.self_attn.out_proj.bias.copy_(ours.attention.out.bias)
        ref.linear1.load_state_dict(ours.feedforward.up.state_dict())
        ref.linear2.load_state_dict(ours.feedforward.down.state_dict())
        ref.norm1.load_state_dict(ours.attn_norm.state_dict())
        ref.norm2.load_state_dict(ours.ff_norm.state_dict())


@pytest.mark.parametrize("position", ["post", "pre"])
@pytest.mark.parametrize("padded", [False, True])
def test_block_matches_torch_encoder_layer(position, padded):
    torch.manual_seed(0)
    d, h, ff = 32, 4, 64
    ours = _block(d, h, ff, position).eval()
    ref = nn.TransformerEncoderLayer(
        d, h, ff, dropout=0.0, activation="relu", batch_first=True, norm_first=(position == "pre")
    ).eval()
    _copy_to_torch_layer(ours, ref)
    x = torch.randn(3, 10, d)
    mask = torch.ones(3, 10, dtype=torch.long)
    mask[1, 7:] = 0
    mask[2, 3:] = 0
    got = ours(x, mask=mask if padded else None)
    want = ref(x, src_key_padding_mask=(mask == 0) if padded else None)
    if padded:  # torch's fast path zeroes padded positions; compare real tokens only
        keep = mask.bool()
        got, want = got[keep], want[keep]
    torch.testing.assert_close(got, want, atol=ATOL, rtol=0)


@pytest.mark.parametrize("causal", [False, True])
def test_attention_matches_torch_multihead_attention(causal):
    torch.manual_seed(1)
    d, h, t = 24, 3, 7
    ours = MultiHeadAttention(d_model=d, heads=h, causal=causal).eval()
    ref = nn.MultiheadAttention(d, h, batch_first=True).eval()
    with torch.no_grad():
        ref.in_proj_weight.copy_(ours.qkv.weight)
        ref.in_proj_bias.copy_(ours.qkv.bias)
        ref.out_proj.load_state_dict(ours.out.state_dict())
    x = torch.randn(2, t, d)
    pad = torch.ones(2, t, dtype=torch.long)
    pad[0, 5:] = 0
    future = torch.triu(torch.ones(t, t, dtype=torch.bool), 1) if causal else None
    want, _ = ref(x, x, x, key_padding_mask=pad == 0, attn_mask=future, need_weights=False)
    got = ours(x, mask=pad)
    torch.testing.assert_close(got[pad.bool()], want[pad.bool()], atol=ATOL, rtol=0)


class SeedMultiHeadAttention(nn.Module):
    """The seed guide's attention, transcribed as a reference (separate Q, K, V, -1e9 mask fill)."""

    def __init__(self, d, h):
        super().__init__()
        self.h, self.hd = h, d // h
        self.query, self.key, self.value, self.fc_out = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x, mask=None):
        n = x.shape[0]
        q, k, v = (f(x).view(n, -1, self.h, self.hd).transpose(1, 2) for f in (self.query, self.key, self.value))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.hd)
        if mask is not None:
            scores = scores.masked_fill(mask == 0, -1e9)
        out = torch.softmax(scores, dim=-1) @ v
        return self.fc_out(out.transpose(1, 2).contiguous().view(n, -1, self.h * self.hd))


def test_attention_matches_the_seed_formulation_in_float64():
    torch.manual_seed(2)
    d, h = 16, 4
    ours = MultiHeadAttention(d_model=d, heads=h).double()
    seed = SeedMultiHeadAttention(d, h).double()
    with torch.no_grad():
        q, k, v = ours.qkv.weight.chunk(3)
        qb, kb, vb = ours.qkv.bias.chunk(3)
        for lin, w, b in ((seed.query, q, qb), (seed.key, k, kb), (seed.value, v, vb)):
            lin.weight.copy_(w)
            lin.bias.copy_(b)
        seed.fc_out.load_state_dict(ours.out.state_dict())
    x = torch.randn(2, 6, d, dtype=torch.float64)
    pad = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])
    got = ours(x, mask=pad)
    want = seed(x, mask=pad[:, None, None, :])
    torch.testing.assert_close(got, want, atol=1e-10, rtol=0)


def test_sinusoidal_matches_the_seed_table():
    d, max_len = 12, 20
    pe = SinusoidalPositionalEncoding(d_model=d, max_len=max_len)
    ref = torch.zeros(max_len, d)
    for pos in range(max_len):
        for i in range(0, d, 2):
            ref[pos, i] = math.sin(pos / (10000 ** (i / d)))
            ref[pos, i + 1] = math.cos(pos / (10000 ** (i / d)))
    torch.testing.assert_close(pe.pe, ref, atol=1e-5, rtol=0)
    x = torch.randn(2, 5, d)
    torch.testing.assert_close(pe(x), x + ref[:5], atol=1e-5, rtol=0)
    assert "pe" not in pe.state_dict()


def test_mlp_matches_formula():
    torch.manual_seed(3)
    mlp = MLP(d_model=8, hidden=16, activation=nn.LeakyReLU(0.2))
    x = torch.randn(2, 3, 8)
    want = nn.functional.linear(
        nn.functional.leaky_relu(nn.functional.linear(x, mlp.up.weight, mlp.up.bias), 0.2),
        mlp.down.weight,
        mlp.down.bias,
    )
    torch.testing.assert_close(mlp(x), want, atol=ATOL, rtol=0)


def test_attention_mask_shapes_and_never_empty_rows():
    pad = torch.tensor([[0, 0, 1, 1], [0, 0, 0, 0]])
    m = attention_mask(pad, causal=True)
    assert m.shape == (2, 1, 4, 4)
    assert m.any(-1).all()  # no row is fully masked (no NaN from the kernel)
    assert not m[0, 0, 2, 3]  # causal: position 2 does not see 3
    assert m[0, 0, 3, 2] and not m[0, 0, 3, 0]  # sees real earlier tokens, not padding
    assert attention_mask(pad, causal=False).shape == (2, 1, 1, 4)


def test_left_padded_causal_attention_is_finite():
    attn = MultiHeadAttention(d_model=8, heads=2, causal=True)
    pad = torch.tensor([[0, 0, 1, 1, 1]])
    assert torch.isfinite(attn(torch.randn(1, 5, 8), mask=pad)).all()


def test_causal_attention_never_sees_the_future():
    torch.manual_seed(4)
    attn = MultiHeadAttention(d_model=8, heads=2, causal=True)
    x = torch.randn(1, 6, 8)
    base = attn(x)
    for j in range(6):
        x2 = x.clone()
        x2[0, j] += 10.0
        changed = (attn(x2) - base).abs().amax(-1)[0] > 1e-6
        assert not changed[:j].any(), f"perturbing position {j} changed an earlier output"
        assert changed[j]
