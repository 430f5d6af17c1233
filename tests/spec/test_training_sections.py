"""The training: and data: sections are validated like model: located errors with suggestions, extends,
--set, references, and the JSON schema."""

from __future__ import annotations

import jsonschema
import pytest
import yaml

from blockforge.errors import SpecError
from blockforge.spec import load_spec, spec_hash
from blockforge.spec.schema import spec_schema
from tests.conftest import SPECS_DIR

TINY = SPECS_DIR / "tiny-train.yaml"


def issues(source, overrides=()):
    with pytest.raises(SpecError) as exc:
        load_spec(source, overrides=overrides)
    return exc.value.issues


def test_unknown_optimizer_is_located_with_a_suggestion(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(TINY.read_text().replace("{type: adamw,", "{type: adamww,"), encoding="utf-8")
    (issue,) = issues(path)
    assert issue.path == ("training", "optimizer", "type") and "adamw" in (issue.hint or "")
    assert issue.location.line == path.read_text().splitlines().index(
        next(x for x in path.read_text().splitlines() if "adamww" in x)) + 1


def test_unknown_and_ill_typed_keys_in_both_sections():
    found = issues(TINY, overrides=["training.batch_sise=4", "data.validation=2", "training.schedule.warmpu=3"])
    paths = {i.path for i in found}
    assert ("training", "batch_sise") in paths and ("data", "validation") in paths
    assert any(i.path[:2] == ("training", "schedule") and i.path[-1] == "warmpu" for i in found)
    assert all(str(i.location).startswith("--set") for i in found)


def test_steps_and_epochs_together_are_refused():
    (issue,) = issues(TINY, overrides=["training.epochs=2"])
    assert issue.path == ("training", "epochs")


def test_extends_and_references_reach_the_training_section(tmp_path):
    child = tmp_path / "child.yaml"
    child.write_text(f"blockforge: 1\nextends: {TINY}\ntraining:\n  seq_len: '${{model.max_len}}'\n"
                     "  optimizer: {lr: 1.0e-4}\n", encoding="utf-8")
    spec = load_spec(child)
    assert spec.training.seq_len == 32 and spec.training.optimizer.lr == 1.0e-4
    assert spec.training.optimizer.weight_decay == 0.1  # merged over the base, not replaced


def test_training_sections_do_not_change_the_architecture_hash():
    base = load_spec(TINY)
    assert spec_hash(base) == spec_hash(load_spec(TINY, overrides=["training.steps=99", "data.validation=0.2"]))
    assert spec_hash(base) != spec_hash(load_spec(TINY, overrides=["model.d_model=64"]))


def test_schema_describes_the_sections_and_accepts_the_training_spec(registries):
    schema = spec_schema(registries)
    jsonschema.validate(yaml.safe_load(TINY.read_text()), schema)
    bad = yaml.safe_load(TINY.read_text())
    bad["training"]["optimizer"] = {"type": "adamw", "lr": -1}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
