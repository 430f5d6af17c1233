"""Positional encodings against references written here. Tolerance: 1e-5 absolute in float32."""

from __future__ import annotations

import math

import pytest
import torch

from blockforge.components.positional import ALiBi, NoPositionalEncoding, RotaryEmbedding, alibi_slopes

ATOL = 1e-5


def rope_reference(x, theta, fraction, scaling, interleaved=False):
    """RoPE written with complex numbers: pair i is (real, imaginary) = features (i, i + rot/2) in the
    "rotate half" layout, features (2i, 2i + 1) in the interleaved one (GPT-J)."""
    b, h, t, d = x.shape
    rot = int(d * fraction) // 2 * 2
    half = rot // 2
    out = x.clone()
    for i in range(half):
        re, im = (2 * i, 2 * i + 1) if interleaved else (i, i + half)
        freq = 1.0 / theta ** (2 * i / rot)
        for p in range(t):
            z = torch.complex(x[:, :, p, re], x[:, :, p, im]) * complex(
                math.cos(p / scaling * freq), math.sin(p / scaling * freq))
            out[:, :, p, re], out[:, :, p, im] = z.real, z.imag
    return out


@pytest.mark.parametrize(("theta", "fraction", "scaling", "interleaved"), [
    (10000.0, 1.0, 1.0, False), (500000.0, 1.0, 1.0, False), (10000.0, 0.25, 1.0, False), (100.0, 0.5, 4.0, False),
    (10000.0, 1.0, 1.0, True), (100.0, 0.5, 4.0, True)])
def test_rope_matches_complex_rotation(theta, fraction, scaling, interleaved):
    torch.manual_seed(0)
    q, k = torch.randn(2, 3, 9, 16), torch.randn(2, 1, 9, 16)
    pos = RotaryEmbedding(theta=theta, fraction=fraction, scaling=scaling,
                          interleaved=interleaved).attention_positions(9, device=q.device)
    gq, gk = pos.rotate(q, k)
    torch.testing.assert_close(gq, rope_reference(q, theta, fraction, scaling, interleaved), atol=ATOL, rtol=0)
    torch.testing.assert_close(gk, rope_reference(k, theta, fraction, scaling, interleaved), atol=ATOL, rtol=0)
    if fraction < 1:  # partial rotary leaves the tail alone
        rot = int(16 * fraction)
        assert torch.equal(gq[..., rot:], q[..., rot:])


def test_rope_scores_depend_only_on_relative_position():
    torch.manual_seed(1)
    v_q, v_k = torch.randn(16), torch.randn(16)
    t = 12
    q = v_q.expand(1, 1, t, 16).clone()
    k = v_k.expand(1, 1, t, 16).clone()
    rq, rk = RotaryEmbedding().attention_positions(t, device=q.device).rotate(q, k)
    s = (rq @ rk.transpose(-2, -1))[0, 0]
    for off in range(-3, 4):
        diag = torch.diagonal(s, offset=off)
        torch.testing.assert_close(diag, diag[0].expand_as(diag), atol=1e-4, rtol=0)


def test_relative_encodings_add_nothing_to_embeddings():
    x = torch.randn(2, 5, 8)
    for module in (RotaryEmbedding(), ALiBi(), NoPositionalEncoding()):
        assert torch.equal(module(x), x)
    assert NoPositionalEncoding().attention_positions(5, device=x.device) is None


def test_alibi_slopes_match_the_paper():
    torch.testing.assert_close(alibi_slopes(8), torch.tensor([2.0 ** -(i + 1) for i in range(8)]))
    # 12 heads: the 8-head slopes, then every other slope of the 16-head sequence (Press et al.'s code)
    s16 = [2.0 ** (-(i + 1) / 2) for i in range(16)]
    torch.testing.assert_close(alibi_slopes(12), torch.tensor([2.0 ** -(i + 1) for i in range(8)] + s16[0::2][:4]))


def test_alibi_bias_is_minus_slope_times_distance():
    bias = ALiBi().attention_positions(5, device=torch.device("cpu")).score_bias(4, 5, 5, torch.float32)
    slopes = [2.0 ** (-2 * (h + 1)) for h in range(4)]
    for h in range(4):
        for i in range(5):
            for j in range(5):
                assert bias[h, i, j].item() == pytest.approx(-slopes[h] * abs(i - j))


def test_sinusoidal_table_of_a_float64_model_is_computed_in_float64():
    """Not float32 values cast up: the float64 table equals the float64 formula to 1e-12."""
    from blockforge.components.positional import SinusoidalPositionalEncoding

    pe = SinusoidalPositionalEncoding(d_model=8, max_len=50).double()
    pe.reset_parameters()  # what the builder does after materialising in float64
    pos = torch.arange(50, dtype=torch.float64)[:, None]
    div = 10000.0 ** (torch.arange(0, 8, 2, dtype=torch.float64) / 8)
    want = torch.stack([torch.sin(pos / div), torch.cos(pos / div)], -1).reshape(50, 8)
    assert pe.pe.dtype == torch.float64
    torch.testing.assert_close(pe.pe, want, atol=1e-12, rtol=0)


# --- ALiBi: the masked bias is built once per forward and shared by the layers ------------------------------


def _alibi_model(block_overrides: dict, *, model_type: str = "lm", n_layers: int = 3):
    from blockforge.build import build_model

    attention = {"type": "mha", "heads": 4, **block_overrides}
    spec = {"blockforge": 1, "name": "alibi", "model": {
        "type": model_type, "vocab_size": 31, "d_model": 16, "n_layers": n_layers, "max_len": 8,
        "positional": "alibi", "block": {"type": "transformer", "attention": attention,
                                         "feedforward": {"type": "mlp", "hidden": 32}}}}
    return build_model(spec, seed=0).eval()


ALIBI_CASES = {
    "causal": ({"causal": True}, "lm"),
    "causal-window": ({"causal": True, "window": 3}, "lm"),
    "causal-softcap-gqa": ({"causal": True, "softcap": 4.0, "kv_heads": 2}, "lm"),
    "encoder": ({}, "encoder"),
    "encoder-softcap": ({"softcap": 4.0}, "encoder"),
}


@pytest.mark.parametrize("case", list(ALIBI_CASES))
@pytest.mark.parametrize("padding", ["none", "right", "left"])
def test_alibi_shared_mask_is_bit_identical_to_the_per_layer_path(case, padding, monkeypatch):
    """The folded, shared mask gives exactly (torch.equal) what the per-layer bias + bool mask path gives."""
    from blockforge.components.positional import ALiBiPositions

    overrides, kind = ALIBI_CASES[case]
    model = _alibi_model(overrides, model_type=kind)
    ids = torch.randint(0, 31, (3, 8), generator=torch.Generator().manual_seed(0))
    mask = {"none": None, "right": torch.tensor([[1] * 8, [1] * 5 + [0] * 3, [1] * 2 + [0] * 6]),
            "left": torch.tensor([[1] * 8, [0] * 3 + [1] * 5, [0] * 6 + [1] * 2])}[padding]
    with torch.no_grad():
        shared = model(ids, mask)
        monkeypatch.delattr(ALiBiPositions, "masked_score_bias")  # attention falls back to score_bias + build_mask
        per_layer = model(ids, mask)
    assert torch.equal(shared, per_layer)


def test_alibi_builds_its_mask_once_per_forward(monkeypatch):
    import blockforge.components.positional as positional

    model = _alibi_model({"causal": True}, n_layers=4)
    ids = torch.randint(0, 31, (2, 8))
    mask = torch.tensor([[1] * 8, [0] * 2 + [1] * 6])
    slopes_calls, masks = [], []
    real_slopes, real_sdpa = positional.alibi_slopes, torch.nn.functional.scaled_dot_product_attention

    def count_slopes(*args, **kw):
        slopes_calls.append(args)
        return real_slopes(*args, **kw)

    def spy(q, k, v, **kw):
        masks.append(kw["attn_mask"])
        return real_sdpa(q, k, v, **kw)

    monkeypatch.setattr(positional, "alibi_slopes", count_slopes)
    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    model(ids, mask)
    assert len(slopes_calls) == 1  # the bias is computed once, not once per layer
    assert len(masks) == 4 and all(m is masks[0] for m in masks)  # one (B, H, T, T) mask serves all layers
    assert masks[0].shape == (2, 4, 8, 8) and masks[0].dtype == torch.float32
    model(ids, mask)
    assert len(slopes_calls) == 2 and masks[4] is not masks[0]  # a new forward builds its own


def test_alibi_bias_of_a_float64_model_is_computed_in_float64():
    """12 heads: the interpolated slopes 2^-0.5, 2^-1.5, ... are not float32 numbers; float64 keeps them exact."""
    bias = ALiBi().attention_positions(6, device=torch.device("cpu")).score_bias(12, 6, 6, torch.float64)
    slopes = torch.tensor([2.0 ** -(i + 1) for i in range(8)] + [2.0 ** -(0.5 * (2 * i + 1)) for i in range(4)],
                          dtype=torch.float64)
    dist = (torch.arange(6)[:, None] - torch.arange(6)[None, :]).abs().double()
    torch.testing.assert_close(bias, -slopes[:, None, None] * dist, atol=1e-15, rtol=0)
