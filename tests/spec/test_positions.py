"""The positions contract: with RoPE or ALiBi, every mixer must apply the positions it is called with.

A mixer that ignores ``positions=`` and is order-blind (``uses_positions = "ignores"``, the default a
plugin gets) would leave its layer without position information: a located validation error that
names the mixer, the encoding and the fix. Recurrent mixers (``inherent``) are fine beside attention,
but an encoding that no mixer applies is refused too.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Annotated

import pytest
from pydantic import Field

from blockforge import BuildContext, Params, hookimpl
from blockforge.errors import SpecError
from blockforge.registry import load_plugins
from blockforge.spec import load_spec


class BlindParams(Params):
    """An order-blind mixer (like Linformer): ignores positions=."""

    heads: Annotated[int, Field(gt=0)] = 1
    """Unused."""


def build_blind(p: BlindParams, ctx: BuildContext):
    raise AssertionError("validation tests never build")


class _Plugin:
    @hookimpl
    def blockforge_register_components(self, registry):
        registry.register("attention", "blind", params=BlindParams, factory=build_blind)


@pytest.fixture
def regs():
    return load_plugins(entry_points=False, strict=True, extra=[("blind", _Plugin())]).registries


SPEC = """\
blockforge: 1
model:
  type: {model}
  vocab_size: 50
  d_model: 16
  n_layers: 4
  max_len: 8
  positional: {positional}
  block:
    type: transformer
    attention: {attention}
    feedforward: {{type: mlp, hidden: 32}}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def spec(model="lm", positional="rope", attention="{type: mha, heads: 2}", extra="") -> str:
    return SPEC.format(model=model, positional=positional, attention=attention) + textwrap.indent(
        textwrap.dedent(extra), "  ")


@pytest.mark.parametrize("positional", ["rope", "alibi"])
@pytest.mark.parametrize("model", ["lm", "encoder"])
def test_an_order_blind_mixer_with_attention_positions_is_a_located_error(tmp_path, regs, positional, model):
    path = write(tmp_path, spec(model, positional, "blind"))
    with pytest.raises(SpecError) as info:
        load_spec(path, registries=regs)
    (issue,) = info.value.issues
    assert issue.code == "contract" and issue.path == ("model", "block", "attention")
    assert (issue.location.source, issue.location.line) == (str(path), 11)
    assert "blind mixer ignores the positions=" in issue.message and f"positional: {positional}" in issue.message
    assert "positional: learned or sinusoidal" in issue.hint and 'uses_positions = "applies"' in issue.hint


@pytest.mark.parametrize("positional", ["learned", "sinusoidal", "none"])
def test_an_order_blind_mixer_with_added_positions_is_fine(tmp_path, regs, positional):
    assert load_spec(write(tmp_path, spec("encoder", positional, "blind")), registries=regs)


def test_the_layers_of_a_plan_are_named(tmp_path, regs):
    extra = """\
      plan:
        overrides:
          - {at: [1, 3], block: {attention: blind}}
    """
    path = write(tmp_path, spec(extra=extra))
    with pytest.raises(SpecError) as info:
        load_spec(path, registries=regs)
    (issue,) = info.value.issues
    assert issue.path == ("model", "plan", "overrides", 0, "block", "attention")
    assert issue.message.endswith("(in layers 1, 3 of the plan)") and issue.location.line == 15


def test_recurrent_mixers_beside_attention_are_fine_with_rope(tmp_path, regs):
    extra = """\
      plan:
        pattern: [{attention: lstm}, {}]
    """
    model = load_spec(write(tmp_path, spec(extra=extra)), registries=regs).model
    assert [b.attention.type for b in model.layers()] == ["lstm", "mha", "lstm", "mha"]


@pytest.mark.parametrize("positional", ["rope", "alibi"])
def test_an_encoding_no_mixer_applies_is_refused(tmp_path, regs, positional):
    path = write(tmp_path, spec(positional=positional, attention="gru"))
    with pytest.raises(SpecError) as info:
        load_spec(path, registries=regs)
    (issue,) = info.value.issues
    assert issue.path == ("model", "positional") and issue.location.line == 8
    assert issue.message == f"positional: {positional} has no effect: no mixer of this model applies it (its mixers: gru)"
    assert "positional: none" in issue.hint
    assert load_spec(write(tmp_path, spec(positional="none", attention="gru")), registries=regs)


def test_cross_attention_is_not_asked_for_positions(tmp_path, regs):
    text = spec("encoder_decoder", "rope", "{type: mha, heads: 2}", """\
      n_decoder_layers: 1
      decoder_block:
        type: decoder
        attention: {type: mha, heads: 2, causal: true}
        cross_attention: {type: cross_mha, heads: 2}
        feedforward: {type: mlp, hidden: 32}
    """)
    assert load_spec(write(tmp_path, text), registries=regs).model.decoder_block.cross_attention.type == "cross_mha"
    with pytest.raises(SpecError) as info:  # the decoder's self-attention is checked like any mixer
        load_spec(write(tmp_path, text.replace("{type: mha, heads: 2, causal: true}", "blind")), registries=regs)
    (issue,) = info.value.issues
    assert issue.path == ("model", "decoder_block", "attention")


def test_builtin_declarations():
    from blockforge.builtins.attention import CrossAttentionParams, GRUParams, LSTMParams, MultiHeadAttentionParams
    from blockforge.builtins.positional import ALiBiParams, LearnedParams, RoPEParams, SinusoidalParams

    assert MultiHeadAttentionParams.uses_positions == "applies"
    assert LSTMParams.uses_positions == GRUParams.uses_positions == "inherent"
    assert CrossAttentionParams.uses_positions == "cross"
    assert BlindParams.uses_positions == "ignores"  # the default a plugin gets
    assert RoPEParams.attention_positions and ALiBiParams.attention_positions
    assert not (LearnedParams.attention_positions or SinusoidalParams.attention_positions)


# --- contracts see the resolved layers, not the base block a plan replaces (issue 12, item 10) ----------------

@pytest.mark.parametrize("how", ["pattern", "variant", "override"])
def test_an_encoding_no_resolved_layer_applies_is_refused(tmp_path, regs, how):
    plan = {
        "pattern": "plan:\n  pattern: [{attention: lstm}]\n",
        "variant": "plan:\n  variants: {rec: {attention: lstm}}\n  pattern: [rec]\n",
        "override": "plan:\n  overrides: [{at: '0:', block: {attention: lstm}}]\n",
    }[how]
    path = write(tmp_path, spec(positional="rope", extra=textwrap.indent(plan, "  ")))
    with pytest.raises(SpecError) as info:
        load_spec(path, registries=regs)
    (issue,) = info.value.issues
    assert issue.path == ("model", "positional")
    assert issue.message == "positional: rope has no effect: no mixer of this model applies it (its mixers: lstm)"


def test_a_base_block_every_layer_replaces_is_not_held_to_contracts(tmp_path, regs):
    """Only the resolved layers are built: a base mixer no layer keeps breaks no contract."""
    blind_base = spec(positional="rope", attention="blind", extra="  plan:\n    pattern: [{attention: mha}]\n")
    blind_base = blind_base.replace("{attention: mha}", "{attention: {type: mha, heads: 2}}")
    assert {b.attention.type for b in load_spec(write(tmp_path, blind_base), registries=regs).model.layers()} == {
        "mha"}
    odd_heads = spec(attention="{type: mha, heads: 3}", extra="  plan:\n    pattern: [{attention: {heads: 2}}]\n")
    assert {b.attention.heads for b in load_spec(write(tmp_path, odd_heads), registries=regs).model.layers()} == {2}
    # a layer that keeps the base value is still refused, located at the base block and naming the layer
    kept = spec(attention="{type: mha, heads: 3}",
                extra="  plan:\n    overrides: [{at: '1:', block: {attention: {heads: 2}}}]\n")
    with pytest.raises(SpecError) as info:
        load_spec(write(tmp_path, kept), registries=regs)
    (issue,) = info.value.issues
    assert issue.path == ("model", "block", "attention", "heads") and issue.message.endswith("(in layer 0 of the plan)")
    # ... and still reported beside an error elsewhere in the spec (all errors in one report)
    with pytest.raises(SpecError) as info:
        load_spec(write(tmp_path, kept.replace("blockforge: 1", "blockforge: 1\nnmae: x")), registries=regs)
    assert sorted(i.code for i in info.value.issues) == ["contract", "unknown_key"]
