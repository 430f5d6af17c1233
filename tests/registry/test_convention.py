"""The calling convention: models call every block and mixer with ``positions=``, always; a built mixer or
block whose ``forward`` cannot take it is a build error that names it and the fix."""

from __future__ import annotations

from typing import ClassVar

import pytest
import torch
from torch import nn

from blockforge import BuildContext, Params, hookimpl
from blockforge.build import BuildError, build_model
from blockforge.components.positional import RotaryPositions
from blockforge.registry import load_plugins
from blockforge.spec.params import PositionUse

CALLS: list[dict] = []


class Spy(nn.Module):
    """Records the keywords it is called with; identity on ``x``."""

    def forward(self, x, *, mask=None, positions=None):
        CALLS.append({"mask": mask, "positions": positions})
        return x


class Old(nn.Module):
    """Written against the old ``m(x, mask=mask)`` documentation."""

    def forward(self, x, *, mask=None):
        return x


class CatchAll(nn.Module):
    def forward(self, x, **kwargs):
        CALLS.append(kwargs)
        return x


class SpyParams(Params):
    """A mixer that records its calls."""

    uses_positions: ClassVar[PositionUse] = "applies"


class OldParams(Params):
    """A mixer without positions=."""


class CatchAllParams(Params):
    """A mixer that takes **kwargs."""

    uses_positions: ClassVar[PositionUse] = "applies"


class _Plugin:
    @hookimpl
    def blockforge_register_components(self, registry):
        registry.register("attention", "spy", params=SpyParams, factory=lambda p, ctx: Spy())
        registry.register("attention", "old", params=OldParams, factory=lambda p, ctx: Old())
        registry.register("attention", "catch_all", params=CatchAllParams, factory=lambda p, ctx: CatchAll())


@pytest.fixture
def regs():
    return load_plugins(entry_points=False, strict=True, extra=[("conv", _Plugin())]).registries


def spec(attention: str, positional: str, model: str = "lm") -> dict:
    return {"blockforge": 1, "model": {
        "type": model, "vocab_size": 20, "d_model": 8, "n_layers": 2, "max_len": 6, "positional": positional,
        "block": {"type": "transformer", "attention": attention, "feedforward": {"type": "mlp", "hidden": 8}},
    }}


@pytest.mark.parametrize(("positional", "expected"), [("learned", type(None)), ("none", type(None)),
                                                      ("rope", RotaryPositions)])
@pytest.mark.parametrize("mixer", ["spy", "catch_all"])
def test_every_mixer_is_called_with_positions(regs, positional, expected, mixer):
    model = build_model(spec(mixer, positional), registries=regs)
    CALLS.clear()
    mask = torch.ones(2, 5, dtype=torch.long)
    model(torch.zeros(2, 5, dtype=torch.long), mask)
    assert len(CALLS) == 2  # one per layer
    for call in CALLS:
        assert set(call) == {"mask", "positions"} and call["mask"] is mask
        assert type(call["positions"]) is expected


def test_encoder_decoder_passes_positions_to_both_stacks(regs):
    data = spec("spy", "rope", "encoder_decoder")
    data["model"].update(n_decoder_layers=1, decoder_block={
        "type": "decoder", "attention": "spy", "cross_attention": {"type": "cross_mha", "heads": 2},
        "feedforward": {"type": "mlp", "hidden": 8}})
    model = build_model(data, registries=regs)
    CALLS.clear()
    model(torch.zeros(1, 4, dtype=torch.long), decoder_ids=torch.zeros(1, 3, dtype=torch.long))
    assert [type(c["positions"]) for c in CALLS] == [RotaryPositions] * 3
    assert [c["positions"].positions.shape[0] for c in CALLS] == [4, 4, 3]  # source, source, target length


def test_a_mixer_without_positions_is_a_build_error_naming_it_and_the_fix(regs):
    # even with positions added to the embeddings: the model passes positions=None to every mixer
    with pytest.raises(BuildError) as info:
        build_model(spec("old", "learned"), registries=regs, device="meta")
    msg = str(info.value)
    assert msg.startswith("attention component 'old' (from conv): Old.forward does not accept positions=")
    assert "m(x, mask=mask, positions=positions)" in msg and "keyword-only `positions" in msg


def test_a_block_without_positions_is_a_build_error(regs):
    class OldBlock(nn.Module):
        def forward(self, x, *, mask=None):
            return x

    class OldBlockParams(Params):
        """A block without positions=."""

    class Plugin:
        @hookimpl
        def blockforge_register_components(self, registry):
            registry.register("block", "old_block", params=OldBlockParams, factory=lambda p, ctx: OldBlock())

    regs = load_plugins(entry_points=False, strict=True, extra=[("blocks", Plugin())]).registries
    data = spec("spy", "learned")
    data["model"]["block"] = "old_block"
    with pytest.raises(BuildError, match=r"block component 'old_block' \(from blocks\): OldBlock.forward does not "
                                         r"accept positions="):
        build_model(data, registries=regs, device="meta")
