"""Blocks, recurrent mixers and whole models against torch's own modules (nn.TransformerDecoderLayer,
nn.Transformer, nn.LSTM, nn.GRU) or references written here. Tolerance: 1e-5 absolute in float32."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from blockforge.components.attention import CrossAttention, MultiHeadAttention
from blockforge.components.block import DecoderBlock, DropPath, ParallelBlock, TransformerBlock
from blockforge.components.feedforward import MLP
from blockforge.components.recurrent import RecurrentMixer

ATOL = 1e-5


def _copy_self_attn(ours: MultiHeadAttention, ref: nn.MultiheadAttention) -> None:
    ref.in_proj_weight.copy_(ours.qkv.weight)
    ref.in_proj_bias.copy_(ours.qkv.bias)
    ref.out_proj.load_state_dict(ours.out.state_dict())


def _copy_cross_attn(ours: CrossAttention, ref: nn.MultiheadAttention) -> None:
    ref.in_proj_weight.copy_(torch.cat([ours.q.weight, ours.kv.weight]))
    ref.in_proj_bias.copy_(torch.cat([ours.q.bias, ours.kv.bias]))
    ref.out_proj.load_state_dict(ours.out.state_dict())


def _decoder_block(d, h, ff, position):
    return DecoderBlock(
        attention=MultiHeadAttention(d_model=d, heads=h, causal=True),
        cross_attention=CrossAttention(d_model=d, heads=h),
        feedforward=MLP(d_model=d, hidden=ff, activation=nn.ReLU()),
        attn_norm=nn.LayerNorm(d), cross_norm=nn.LayerNorm(d), ff_norm=nn.LayerNorm(d),
        norm_position=position,
    ).eval()


def _copy_decoder(ours: DecoderBlock, ref: nn.TransformerDecoderLayer) -> None:
    with torch.no_grad():
        _copy_self_attn(ours.attention, ref.self_attn)
        _copy_cross_attn(ours.cross_attention, ref.multihead_attn)
        ref.linear1.load_state_dict(ours.feedforward.up.state_dict())
        ref.linear2.load_state_dict(ours.feedforward.down.state_dict())
        ref.norm1.load_state_dict(ours.attn_norm.state_dict())
        ref.norm2.load_state_dict(ours.cross_norm.state_dict())
        ref.norm3.load_state_dict(ours.ff_norm.state_dict())


@pytest.mark.parametrize("position", ["post", "pre"])
def test_decoder_block_matches_torch_decoder_layer(position):
    torch.manual_seed(0)
    d, h, ff = 32, 4, 64
    ours = _decoder_block(d, h, ff, position)
    ref = nn.TransformerDecoderLayer(d, h, ff, dropout=0.0, batch_first=True, norm_first=position == "pre").eval()
    _copy_decoder(ours, ref)
    x, mem = torch.randn(2, 6, d), torch.randn(2, 9, d)
    mpad = torch.ones(2, 9, dtype=torch.long)
    mpad[1, 5:] = 0
    want = ref(x, mem, tgt_mask=nn.Transformer.generate_square_subsequent_mask(6), tgt_is_causal=True,
               memory_key_padding_mask=mpad == 0)
    got = ours(x, memory=mem, memory_mask=mpad)
    torch.testing.assert_close(got, want, atol=ATOL, rtol=0)


def test_encoder_decoder_model_matches_torch_transformer():
    from blockforge.build import build_model

    torch.manual_seed(1)
    spec = {
        "blockforge": 1,
        "model": {
            "type": "encoder_decoder", "vocab_size": 23, "d_model": 16, "n_layers": 2, "n_decoder_layers": 2,
            "max_len": 10, "positional": "none", "encoder_norm": "layernorm", "decoder_norm": "layernorm",
            "block": {"type": "transformer", "norm_position": "post", "attention": {"type": "mha", "heads": 2},
                      "feedforward": {"type": "mlp", "hidden": 24}},
            "decoder_block": {"type": "decoder", "attention": {"type": "mha", "heads": 2, "causal": True},
                              "cross_attention": {"type": "cross_mha", "heads": 2},
                              "feedforward": {"type": "mlp", "hidden": 24}},
            "head": {"type": "hidden"},
        },
    }
    ours = build_model(spec, seed=0).eval()
    ref = nn.Transformer(16, 2, 2, 2, 24, dropout=0.0, batch_first=True).eval()
    with torch.no_grad():
        for o, r in zip(ours.encoder, ref.encoder.layers):
            _copy_self_attn(o.attention, r.self_attn)
            r.linear1.load_state_dict(o.feedforward.up.state_dict())
            r.linear2.load_state_dict(o.feedforward.down.state_dict())
            r.norm1.load_state_dict(o.attn_norm.state_dict())
            r.norm2.load_state_dict(o.ff_norm.state_dict())
        for o, r in zip(ours.decoder, ref.decoder.layers):
            _copy_decoder(o, r)
        ref.encoder.norm.load_state_dict(ours.encoder_norm.state_dict())
        ref.decoder.norm.load_state_dict(ours.decoder_norm.state_dict())
    src, tgt = torch.randint(0, 23, (2, 7)), torch.randint(0, 23, (2, 5))
    got = ours(src, decoder_ids=tgt)
    want = ref(ours.embedding(src), ours.embedding(tgt), tgt_mask=nn.Transformer.generate_square_subsequent_mask(5),
               tgt_is_causal=True)
    torch.testing.assert_close(got, want, atol=ATOL, rtol=0)


def test_sandwich_block_and_layer_scale_match_formula():
    torch.manual_seed(2)
    d = 8
    attn, ff = MultiHeadAttention(d_model=d, heads=2, causal=True), MLP(d_model=d, hidden=16, activation=nn.GELU())
    norms = [nn.RMSNorm(d) for _ in range(4)]
    for n in norms:
        nn.init.normal_(n.weight)
    block = TransformerBlock(attention=attn, feedforward=ff, attn_norm=norms[0], ff_norm=norms[1],
                             attn_post_norm=norms[2], ff_post_norm=norms[3], norm_position="sandwich",
                             layer_scale=0.5, d_model=d).eval()
    assert torch.equal(block.attn_scale.weight, torch.full((d,), 0.5))
    x = torch.randn(2, 5, d)
    h = x + 0.5 * norms[2](attn(norms[0](x)))
    want = h + 0.5 * norms[3](ff(norms[1](h)))
    torch.testing.assert_close(block(x), want, atol=ATOL, rtol=0)


def test_output_norm_block_matches_formula():
    """``output`` (OLMo 2): x + norm(f(x)), the norms only on the branch outputs."""
    torch.manual_seed(2)
    d = 8
    attn, ff = MultiHeadAttention(d_model=d, heads=2, causal=True), MLP(d_model=d, hidden=16, activation=nn.GELU())
    norms = [nn.RMSNorm(d) for _ in range(2)]
    for n in norms:
        nn.init.normal_(n.weight)
    block = TransformerBlock(attention=attn, feedforward=ff, attn_norm=norms[0], ff_norm=norms[1],
                             norm_position="output").eval()
    x = torch.randn(2, 5, d)
    h = x + norms[0](attn(x))
    torch.testing.assert_close(block(x), h + norms[1](ff(h)), atol=ATOL, rtol=0)


@pytest.mark.parametrize("shared", [True, False])
def test_parallel_block_matches_formula(shared):
    torch.manual_seed(3)
    d = 8
    attn, ff = MultiHeadAttention(d_model=d, heads=2, causal=True), MLP(d_model=d, hidden=16, activation=nn.GELU())
    n1, n2 = nn.LayerNorm(d), nn.LayerNorm(d)
    nn.init.normal_(n2.weight)
    block = ParallelBlock(attention=attn, feedforward=ff, attn_norm=n1, ff_norm=None if shared else n2).eval()
    x = torch.randn(2, 5, d)
    want = x + attn(n1(x)) + ff(n1(x) if shared else n2(x))
    torch.testing.assert_close(block(x), want, atol=ATOL, rtol=0)


def test_drop_path_drops_whole_samples_and_is_identity_in_eval():
    torch.manual_seed(4)
    dp = DropPath(p=0.5)
    x = torch.ones(64, 3, 4)
    y = dp(x)
    per_sample = y.flatten(1)
    assert all(set(row.unique().tolist()) <= {0.0, 2.0} and len(row.unique()) == 1 for row in per_sample)
    assert 0 < (per_sample[:, 0] == 0).sum() < 64
    assert torch.equal(dp.eval()(x), x)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_recurrent_mixer_matches_torch(cell):
    torch.manual_seed(5)
    mixer = RecurrentMixer(cell=cell, d_model=12, layers=2)
    ref = (nn.LSTM if cell == "lstm" else nn.GRU)(12, 12, num_layers=2, batch_first=True)
    ref.load_state_dict(mixer.rnn.state_dict())
    x = torch.randn(3, 7, 12)
    torch.testing.assert_close(mixer(x), ref(x)[0], atol=ATOL, rtol=0)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_bidirectional_mixer_ignores_right_padding(cell):
    torch.manual_seed(6)
    mixer = RecurrentMixer(cell=cell, d_model=12, bidirectional=True)
    x = torch.randn(2, 7, 12)
    mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3])
    got = mixer(x, mask=mask)
    alone = mixer(x[1:, :4])
    torch.testing.assert_close(got[1, :4], alone[0], atol=ATOL, rtol=0)
    ref = (nn.LSTM if cell == "lstm" else nn.GRU)(12, 6, batch_first=True, bidirectional=True)
    ref.load_state_dict(mixer.rnn.state_dict())
    torch.testing.assert_close(got[0], ref(x[:1])[0][0], atol=ATOL, rtol=0)


def test_unidirectional_mixer_is_causal():
    torch.manual_seed(7)
    mixer = RecurrentMixer(cell="lstm", d_model=8)
    x = torch.randn(1, 6, 8)
    base = mixer(x)
    x2 = x.clone()
    x2[0, 3] += 5.0
    changed = (mixer(x2) - base).abs().amax(-1)[0] > 1e-6
    assert changed.tolist() == [False, False, False, True, True, True]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("side", ["left", "right", "both"])
def test_recurrent_mixer_ignores_padding_on_either_side(cell, bidirectional, side):
    """Every row's tokens give what the mixer gives on those tokens alone, whichever side is padded."""
    torch.manual_seed(8)
    mixer = RecurrentMixer(cell=cell, d_model=12, bidirectional=bidirectional)
    x = torch.randn(3, 7, 12)
    spans = {"left": [(0, 7), (3, 7), (6, 7)], "right": [(0, 7), (0, 4), (0, 1)],
             "both": [(0, 7), (2, 5), (1, 7)]}[side]
    mask = torch.zeros(3, 7, dtype=torch.long)
    for row, (a, b) in enumerate(spans):
        mask[row, a:b] = 1
    got = mixer(x, mask=mask)
    for row, (a, b) in enumerate(spans):
        alone = mixer(x[row : row + 1, a:b])[0]  # (b - a, C), no padding at all
        torch.testing.assert_close(got[row, a:b], alone, atol=ATOL, rtol=0)
    x2 = x.masked_fill(~mask.bool()[..., None], 100.0)  # changing the padding changes no token's output
    torch.testing.assert_close(mixer(x2, mask=mask)[mask.bool()], got[mask.bool()], atol=ATOL, rtol=0)


def test_recurrent_mixer_refuses_padding_between_tokens():
    mixer = RecurrentMixer(cell="lstm", d_model=8)
    mask = torch.tensor([[1, 1, 1, 1], [1, 0, 1, 1]])
    with pytest.raises(ValueError, match=r"contiguous.*row 1 of the mask is \[1, 0, 1, 1\]"):
        mixer(torch.randn(2, 4, 8), mask=mask)
