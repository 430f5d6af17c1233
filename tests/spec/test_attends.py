"""What a slot takes is declared (``Params.attends`` / ``Ref(kind, attends=...)``) and checked at
validation, the same for built-ins and plugins: a self-attention in a cross-attention slot, a
cross-attention in a self-attention slot, a decoder block in an LM are located errors naming the
component, its plugin and the slot."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from blockforge import hookimpl
from blockforge.errors import SpecError
from blockforge.registry import load_plugins
from blockforge.spec import load_spec

LINFORMER_SRC = Path(__file__).resolve().parents[2] / "plugins" / "blockforge-linformer" / "src"

ENC_DEC = """\
blockforge: 1
model:
  type: encoder_decoder
  vocab_size: 50
  d_model: 16
  n_layers: 1
  n_decoder_layers: 1
  max_len: 8
  block: {{type: transformer, attention: {{type: mha, heads: 2}}, feedforward: {{type: mlp, hidden: 32}}}}
  decoder_block:
    type: decoder
    attention: {{type: mha, heads: 2, causal: true}}
    cross_attention: {cross}
    feedforward: {{type: mlp, hidden: 32}}
"""

LM = """\
blockforge: 1
model:
  type: lm
  vocab_size: 50
  d_model: 16
  n_layers: 2
  max_len: 8
  block: {block}
"""


@pytest.fixture
def regs(monkeypatch):
    monkeypatch.syspath_prepend(str(LINFORMER_SRC))
    from blockforge_linformer import plugin

    class _Plugin:
        @hookimpl
        def blockforge_register_components(self, registry):
            plugin.blockforge_register_components(registry)

    yield load_plugins(entry_points=False, strict=True, extra=[("blockforge-linformer", _Plugin())]).registries
    sys.modules.pop("blockforge_linformer.plugin", None)
    sys.modules.pop("blockforge_linformer", None)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def one_issue(path: Path, regs):
    with pytest.raises(SpecError) as err:
        load_spec(path, registries=regs)
    assert len(err.value.issues) == 1, err.value
    return err.value.issues[0]


def test_plugin_self_mixer_in_cross_slot_is_a_located_error(tmp_path, regs):
    path = write(tmp_path, ENC_DEC.format(cross="{type: linformer, heads: 2, seq_len: 8, k: 4}"))
    issue = one_issue(path, regs)
    assert issue.path == ("model", "decoder_block", "cross_attention")
    assert "'linformer'" in issue.message and "blockforge-linformer" in issue.message
    assert "cross_attention slot" in issue.message and "'decoder'" in issue.message
    assert issue.location.line == 13 and "cross_mha" in issue.hint


@pytest.mark.parametrize("mixer", ["mha", "lstm", "gru"])
def test_builtin_self_mixer_in_cross_slot_is_refused(tmp_path, regs, mixer):
    issue = one_issue(write(tmp_path, ENC_DEC.format(cross=f"{{type: {mixer}}}" if mixer != "mha" else
                                                     "{type: mha, heads: 2}")), regs)
    assert issue.path == ("model", "decoder_block", "cross_attention") and f"'{mixer}'" in issue.message


def test_cross_mixer_in_self_slot_is_refused(tmp_path, regs):
    block = "{type: transformer, attention: {type: cross_mha, heads: 2}, feedforward: {type: mlp, hidden: 32}}"
    issue = one_issue(write(tmp_path, LM.format(block=block)), regs)
    assert issue.path == ("model", "block", "attention") and "'cross_mha'" in issue.message


def test_decoder_block_in_an_lm_is_refused(tmp_path, regs):
    block = ("{type: decoder, attention: {type: mha, heads: 2, causal: true}, "
             "cross_attention: {type: cross_mha, heads: 2}, feedforward: {type: mlp, hidden: 32}}")
    issue = one_issue(write(tmp_path, LM.format(block=block)), regs)
    assert issue.path == ("model", "block") and "'decoder'" in issue.message and "block slot" in issue.message


def test_encoder_block_as_decoder_block_is_refused(tmp_path, regs):
    text = ENC_DEC.format(cross="{type: cross_mha, heads: 2}").replace("type: decoder\n", "type: transformer\n")
    text = text.replace("    cross_attention: {type: cross_mha, heads: 2}\n", "")
    issue = one_issue(write(tmp_path, text), regs)
    assert issue.path == ("model", "decoder_block") and "'transformer'" in issue.message


def test_a_plan_layer_in_the_wrong_slot_is_located_in_the_plan(tmp_path, regs):
    block = "{type: transformer, attention: {type: mha, heads: 2}, feedforward: {type: mlp, hidden: 32}}"
    text = LM.format(block=block) + "  plan:\n    overrides:\n      - at: -1\n        block: {attention: {type: cross_mha, heads: 2}}\n"
    issue = one_issue(write(tmp_path, text), regs)
    assert issue.path[:3] == ("model", "plan", "overrides") and "(in layer 1 of the plan)" in issue.message


def test_correct_slots_validate(tmp_path, regs):
    load_spec(write(tmp_path, ENC_DEC.format(cross="{type: cross_mha, heads: 2}")), registries=regs)
