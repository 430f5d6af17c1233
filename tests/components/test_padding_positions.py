"""Issue 12 item 6: positions follow the padding mask. For every registered positional encoding, a row with
left, right or both-sided padding gives its real tokens the outputs of the unpadded row (float64, 1e-10);
explicit ``position_ids`` override the default."""

from __future__ import annotations

import pytest
import torch

from blockforge.build import build_model
from blockforge.components.positional import positions_from_mask
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
