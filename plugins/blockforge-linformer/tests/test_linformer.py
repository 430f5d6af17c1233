"""Linformer attention against a reference written here, and the plugin as blockforge sees it.

Run with the plugin installed (``pip install .``): the registry test loads it through its entry point.
"""

from __future__ import annotations

import math

import pytest
import torch

from blockforge.build import build_component, build_model
from blockforge.errors import SpecError
from blockforge.registry import load_plugins
from blockforge_linformer.module import LinformerAttention

ATOL = 1e-5  # float32; the reference and the module do the same arithmetic in a different order


def reference(m: LinformerAttention, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Linformer by the paper's formula, one head at a time, with explicit softmax."""
    b, t, c = x.shape
    h, d = m.heads, m.head_dim
    q, k, v = (x @ m.qkv.weight.T + m.qkv.bias).split(c, dim=-1)  # each (B, T, C)
    if mask is not None:
        k, v = k * mask[..., None], v * mask[..., None]
    e = m.proj_k[:, :t]
    f = e if m.proj_v is None else m.proj_v[:, :t]
    heads = []
    for i in range(h):
        sl = slice(i * d, (i + 1) * d)
        kp, vp = e @ k[..., sl], f @ v[..., sl]  # (B, K, D)
        att = torch.softmax(q[..., sl] @ kp.transpose(1, 2) / math.sqrt(d), dim=-1)  # (B, T, K)
        heads.append(att @ vp)  # (B, T, D)
    return torch.cat(heads, dim=-1) @ m.out.weight.T + m.out.bias


@pytest.mark.parametrize("share_kv", [False, True])
@pytest.mark.parametrize("t", [8, 5])
def test_matches_reference(share_kv, t):
    torch.manual_seed(0)
    m = LinformerAttention(d_model=16, heads=4, seq_len=8, k=3, share_kv=share_kv)
    x = torch.randn(2, t, 16)
    mask = torch.ones(2, t)
    mask[1, -2:] = 0
    for msk in (None, mask):
        torch.testing.assert_close(m(x, mask=msk), reference(m, x, msk), atol=ATOL, rtol=1e-5)


def test_padding_does_not_leak():
    torch.manual_seed(0)
    m = LinformerAttention(d_model=8, heads=2, seq_len=6, k=2)
    x = torch.randn(1, 6, 8)
    mask = torch.tensor([[1, 1, 1, 1, 0, 0]])
    y1 = m(x, mask=mask)
    x2 = x.clone()
    x2[:, 4:] = torch.randn(1, 2, 8)  # change only the padding
    torch.testing.assert_close(m(x2, mask=mask)[:, :4], y1[:, :4])


def test_too_long_input_is_refused():
    m = LinformerAttention(d_model=8, heads=2, seq_len=4, k=2)
    with pytest.raises(ValueError, match="exceeds the Linformer seq_len=4"):
        m(torch.randn(1, 5, 8))


def test_k_larger_than_seq_len_is_refused():
    with pytest.raises(ValueError, match="k=9 must be at most seq_len=8"):
        LinformerAttention(d_model=8, heads=2, seq_len=8, k=9)


def test_registered_through_the_entry_point():
    ps = load_plugins(strict=True)
    info = ps.get("linformer")
    assert info.status == "loaded" and info.distribution == "blockforge-linformer"
    assert info.components == ["attention.linformer"]
    assert ps.registries["attention"].get("linformer").owner == "linformer"


def test_builds_from_a_reference_and_checks_contracts():
    regs = load_plugins(strict=True).registries
    m = build_component("attention", {"type": "linformer", "heads": 2, "seq_len": 8, "k": 4},
                        d_model=8, max_len=8, registries=regs)
    assert isinstance(m, LinformerAttention) and m(torch.randn(2, 8, 8)).shape == (2, 8, 8)
    with pytest.raises(SpecError, match="shorter than the model's max_len=16"):
        build_component("attention", {"type": "linformer", "heads": 2, "seq_len": 8, "k": 4},
                        d_model=8, max_len=16, registries=regs)


def test_takes_positions_and_ignores_them():
    """Called like every mixer, ``m(x, mask=mask, positions=positions)``; RoPE/ALiBi change nothing."""
    from blockforge.components.positional import ALiBi, RotaryEmbedding

    torch.manual_seed(0)
    m = LinformerAttention(d_model=16, heads=4, seq_len=8, k=3)
    x = torch.randn(2, 8, 16)
    mask = torch.ones(2, 8)
    mask[1, -2:] = 0
    want = reference(m, x, mask)
    for enc in (RotaryEmbedding(), ALiBi()):
        got = m(x, mask=mask, positions=enc.attention_positions(8, device=x.device))
        torch.testing.assert_close(got, want, atol=ATOL, rtol=1e-5)


def _encoder(positional: str) -> dict:
    return {"blockforge": 1, "model": {
        "type": "encoder", "vocab_size": 20, "d_model": 8, "n_layers": 2, "max_len": 8, "positional": positional,
        "block": {"type": "transformer", "attention": {"type": "linformer", "heads": 2, "seq_len": 8, "k": 4},
                  "feedforward": {"type": "mlp", "hidden": 16}},
    }}


@pytest.mark.parametrize("positional", ["rope", "alibi"])
def test_with_rope_or_alibi_the_spec_is_refused_with_the_fix(positional):
    regs = load_plugins(strict=True).registries
    with pytest.raises(SpecError) as info:
        build_model(_encoder(positional), registries=regs)
    (issue,) = info.value.issues
    assert issue.path == ("model", "block", "attention")
    assert f"linformer mixer ignores the positions= it is called with, so with positional: {positional}" in issue.message
    assert "positional: learned or sinusoidal" in issue.hint


@pytest.mark.parametrize("positional", ["learned", "sinusoidal"])
def test_with_added_positions_a_model_builds_and_runs(positional):
    regs = load_plugins(strict=True).registries
    model = build_model(_encoder(positional), registries=regs)
    ids = torch.randint(0, 20, (2, 8))
    assert model(ids, torch.ones(2, 8, dtype=torch.long)).shape == (2, 8, 8)
