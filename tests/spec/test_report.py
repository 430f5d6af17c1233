"""All errors in one report: structural errors do not hide broken shape contracts elsewhere."""

from __future__ import annotations

import pytest

from blockforge.errors import SpecError
from blockforge.spec import load_spec

SPEC = """\
blockforge: 1
model:
  type: lm
  vocab_size: 50
  d_model: 16
  n_layers: 2
  max_len: 8
  headd: 3
  block:
    type: transformer
    norm: rmsnrm
    attention: {type: mha, heads: 3}
    feedforward: {type: mlp, hidden: 32}
"""


def test_unknown_key_unknown_name_and_contract_together(tmp_path, registries):
    p = tmp_path / "s.yaml"
    p.write_text(SPEC)
    with pytest.raises(SpecError) as info:
        load_spec(p, registries=registries)
    got = [(i.code, i.location.line) for i in info.value.issues]
    assert got == [("unknown_key", 8), ("unknown_component", 11), ("contract", 12)]
    contract = info.value.issues[2]
    assert contract.path == ("model", "block", "attention", "heads") and contract.location.col == 35


def test_contracts_are_not_guessed_without_a_valid_context(tmp_path, registries):
    p = tmp_path / "s.yaml"
    p.write_text(SPEC.replace("d_model: 16", "d_model: sixteen"))
    with pytest.raises(SpecError) as info:
        load_spec(p, registries=registries)
    assert "contract" not in {i.code for i in info.value.issues}
