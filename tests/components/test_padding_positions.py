"""Issue 12 item 6: positions follow the padding mask. For every registered positional encoding, a row with
left, right or both-sided padding gives its real tokens the outputs of the unpadded row (float64, 1e-10);
explicit ``position_ids`` override the default; a plugin encoding that takes no ``position_ids`` keeps
``0 .. T-1`` and says so."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import Tensor, nn

from blockforge.build import build_model
from blockforge.components.model import PositionsWarning, TransformerLM
from blockforge.components.positional import RotaryEmbedding, positions_from_mask, takes_position_ids
from blockforge.generation import CacheFallbackWarning, generate
from blockforge.registry import default_registries

POSITIONALS = sorted(c.name for c in default_registries().components() if c.kind.value == "positional")
PADS = {"left": (3, 0), "right": (0, 3), "both": (2, 2)}


def spec(positional: str, causal: bool) -> dict:
    return {"blockforge": 1, "model": {
        "type": "lm", "vocab_size": 50, "d_model": 16, "n_layers": 2, "max_len": 16, "positional": positional,
        "block": {"type": "transformer", "attention": {"type": "mha", "heads": 2, "causal": causal},
                  "feedforward": {"type": "mlp", "hidden": 32}}, "init_std": 0.3}}


@pytest.mark.parametrize("pad", list(PADS))
@pytest.mark.parametrize("positional", POSITIONALS)
def test_padding_leaves_the_real_tokens_outputs_unchanged(positional, pad):
    causal = pad == "left"  # a bidirectional model exercises right/both padding as well
    for causal in {causal, True}:
        model = build_model(spec(positional, causal), seed=0, dtype=torch.float64).eval()
        assert model.positional_takes_ids and takes_position_ids(model.positional)
        before, after = PADS[pad]
        ids = torch.randint(1, 50, (1, 6))
        padded = torch.cat((torch.zeros(1, before, dtype=torch.long), ids, torch.zeros(1, after, dtype=torch.long)), 1)
        mask = (torch.arange(padded.shape[1]) >= before) & (torch.arange(padded.shape[1]) < before + 6)
        with torch.no_grad():
            want = model(ids)
            got = model(padded, mask[None].long())[:, before:before + 6]
        diff = (got - want).abs().max().item()
        assert diff < 1e-10, f"{positional}, {pad} padding, causal={causal}: off by {diff}"


def test_explicit_position_ids_are_used():
    model = build_model(spec("learned", True), seed=0).eval()
    ids = torch.randint(1, 50, (2, 5))
    with torch.no_grad():
        default = model(ids)
        same = model(ids, position_ids=torch.arange(5).expand(2, 5))
        shifted = model(ids, position_ids=torch.arange(2, 7).expand(2, 5))
    assert torch.equal(default, same) and not torch.allclose(default, shifted)
    with pytest.raises(ValueError, match="position_ids shape"):
        model(ids, position_ids=torch.arange(5))


def test_positions_from_mask_is_cumsum_minus_one_clipped():
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 0, 0], [0, 1, 1, 0, 0]])
    assert positions_from_mask(mask).tolist() == [[0, 0, 0, 1, 2], [0, 1, 2, 2, 2], [0, 0, 1, 1, 1]]
    assert positions_from_mask(mask[:, :1] * 0 + 1, torch.tensor([4, 0, 2])).tolist() == [[4], [0], [2]]


class PluginLearned(nn.Module):
    """A plugin's absolute encoding written before position_ids existed: ``forward(x)`` only."""

    def __init__(self, table: Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(table.clone())

    def forward(self, x: Tensor) -> Tensor:
        return x + self.weight[: x.shape[1]]


class PluginRoPE(nn.Module):
    """A plugin's relative encoding with the old ``attention_positions(t, *, device)``."""

    def forward(self, x: Tensor) -> Tensor:
        return x

    def attention_positions(self, t: int, *, device: torch.device) -> object:
        return RotaryEmbedding().attention_positions(t, device=device)


def with_positional(model: TransformerLM, positional: nn.Module) -> TransformerLM:
    return TransformerLM(embedding=model.embedding, positional=positional, blocks=list(model.blocks),
                         final_norm=model.final_norm, head=model.head, max_len=model.max_len).eval()


@pytest.mark.parametrize("name", ["learned", "rope"])
def test_a_plugin_encoding_without_position_ids_gets_0_to_t_and_a_warning(name):
    """The calling convention before position_ids: such a module is called without them, a padded batch or a
    cache that would need them warns, and generation recomputes (same tokens as without a cache)."""
    builtin = build_model(spec(name, True), seed=0, dtype=torch.float64).eval()
    plugin = with_positional(builtin, PluginLearned(builtin.positional.weight.data) if name == "learned"
                             else PluginRoPE())
    assert not plugin.positional_takes_ids and not takes_position_ids(plugin.positional)
    ids = torch.randint(1, 50, (2, 6))
    left = torch.tensor([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]])
    right = left.flip(1)
    plain = torch.arange(6).expand(2, 6)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning where 0..T-1 are the right positions
        real = right.bool()  # padding's own outputs are unused (its positions differ)
        assert torch.equal(plugin(ids, right)[real], builtin(ids, right)[real])
        with pytest.warns(PositionsWarning, match=f"{type(plugin.positional).__name__} takes no position_ids"):
            got = plugin(ids, left)
    assert torch.equal(got, builtin(ids, left, position_ids=plain))
    with pytest.warns(CacheFallbackWarning, match="takes no position_ids"):
        out = generate(plugin, ids * left, left, max_new_tokens=4)
    assert torch.equal(out, generate(plugin, ids * left, left, max_new_tokens=4, use_cache=False))
