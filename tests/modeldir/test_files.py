"""Model directories: round trip, refusals (hash, mixed files, shapes), tokenizer and generation defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from blockforge.build import build_model
from blockforge.modeldir import (
    ChatTemplate, GenerationConfig, ModelDirError, load_generation_config, load_model, load_tokenizer, save_model,
)
from tests.modeldir.tiny_tokenizer import byte_tokenizer

SPECS = Path(__file__).parents[2] / "specs"
TINY_SPECS = sorted(p.name for p in SPECS.glob("tiny*.yaml"))


@pytest.mark.parametrize("name", TINY_SPECS)
def test_round_trip_gives_the_same_weights_and_outputs(tmp_path, name):
    model = build_model(SPECS / name, seed=3).eval()
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.blockforge_hash == model.blockforge_hash
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(a, b), k
    ids = torch.randint(0, 50, (2, 6))
    with torch.no_grad():
        assert torch.equal(model(ids), loaded(ids))


def test_files_are_safetensors_and_yaml_no_pickle(tmp_path):
    save_model(build_model(SPECS / "tiny.yaml"), tmp_path, tokenizer=byte_tokenizer(),
               generation=GenerationConfig(eos_token_id=256, chat_template=ChatTemplate()))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["generation.json", "model.safetensors", "spec.yaml", "tokenizer.json"]
    for p in tmp_path.iterdir():
        assert not p.read_bytes().startswith(b"\x80"), p  # pickle protocol 2+ magic
    from safetensors import safe_open

    with safe_open(str(tmp_path / "model.safetensors"), framework="pt") as fh:
        assert fh.metadata()["spec_hash"] == build_model(SPECS / "tiny.yaml", device="meta").blockforge_hash


def test_tied_weights_are_stored_once_and_retied(tmp_path):
    model = build_model(SPECS / "tiny.yaml")
    model.head.extra = model.embedding.weight  # a second name for one tensor, as weight tying makes
    save_model(model, tmp_path)
    from safetensors import safe_open

    with safe_open(str(tmp_path / "model.safetensors"), framework="pt") as fh:
        assert "embedding.weight" in fh.keys() and "head.extra" not in fh.keys()  # noqa: SIM118


def test_tokenizer_and_generation_defaults_round_trip(tmp_path):
    gen = GenerationConfig(max_new_tokens=7, eos_token_id=[256, 259], stop=["\n\n"],
                           chat_template=ChatTemplate(user="U: ", assistant="A: ", end="\n"))
    save_model(build_model(SPECS / "tiny.yaml"), tmp_path, tokenizer=byte_tokenizer(), generation=gen)
    assert load_generation_config(tmp_path) == gen
    assert load_tokenizer(tmp_path).encode("héllo").ids == [104, 195, 169, 108, 108, 111]


def test_a_directory_without_extras_has_default_generation_and_no_tokenizer(tmp_path):
    save_model(build_model(SPECS / "tiny.yaml"), tmp_path)
    assert load_tokenizer(tmp_path) is None and load_generation_config(tmp_path) == GenerationConfig()


def test_an_edited_spec_is_refused_by_its_hash(tmp_path):
    save_model(build_model(SPECS / "tiny.yaml"), tmp_path)
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec.read_text().replace("n_layers: 2", "n_layers: 3"))
    with pytest.raises(ModelDirError, match="edited after the weights were saved"):
        load_model(tmp_path)


def test_an_edit_that_keeps_the_hash_line_is_refused_by_the_text_digest(tmp_path):
    save_model(build_model(SPECS / "tiny.yaml"), tmp_path)
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec.read_text().replace("n_layers: 2", "n_layers: 3") + "\n")
    with pytest.raises(ModelDirError, match="no longer matches the spec_sha256"):
        load_model(tmp_path)


def test_an_untouched_directory_loads_when_this_version_hashes_the_spec_differently(tmp_path, monkeypatch):
    """A parameter added to a component (with a default keeping the old behaviour) changes the hash of
    every spec that uses it; directories written before must still load, with their weights."""
    import blockforge.spec as spec_module

    model = build_model(SPECS / "tiny.yaml")
    save_model(model, tmp_path)
    real = spec_module.spec_hash
    monkeypatch.setattr(spec_module, "spec_hash", lambda s: real({**s.model_dump(mode="json"), "new": 1})
                        if hasattr(s, "model_dump") else real(s))
    loaded = load_model(tmp_path)
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


def test_spec_and_weights_of_two_models_are_refused(tmp_path):
    save_model(build_model(SPECS / "tiny.yaml"), tmp_path / "a")
    save_model(build_model(SPECS / "tiny-llama.yaml"), tmp_path / "b")
    (tmp_path / "b" / "spec.yaml").replace(tmp_path / "a" / "spec.yaml")
    with pytest.raises(ModelDirError, match="mixes two models"):
        load_model(tmp_path / "a")


def test_weights_that_do_not_fit_name_each_tensor_and_both_shapes(tmp_path):
    from safetensors.torch import save_file

    model = build_model(SPECS / "tiny.yaml")
    save_model(model, tmp_path)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["blocks.0.attention.out.weight"] = torch.zeros(32, 16)
    del state["final_norm.bias"]
    state["blocks.9.extra"] = torch.zeros(2)
    save_file(state, str(tmp_path / "model.safetensors"), metadata={"spec_hash": model.blockforge_hash})
    with pytest.raises(ModelDirError) as info:
        load_model(tmp_path)
    msg = str(info.value)
    assert "3 tensor(s)" in msg
    assert "blocks.0.attention.out.weight: file (32, 16) vs spec (32, 32)" in msg
    assert "final_norm.bias: missing from the file (spec (32,))" in msg
    assert "blocks.9.extra: in the file (2,) but not in the spec" in msg


def test_missing_and_wrong_paths_are_clear(tmp_path):
    with pytest.raises(ModelDirError, match="does not exist"):
        load_model(tmp_path / "nope")
    with pytest.raises(ModelDirError, match="spec.yaml is missing"):
        load_model(tmp_path)
    with pytest.raises(ModelDirError, match="carries no blockforge spec"):
        save_model(torch.nn.Linear(2, 2), tmp_path / "x")
    (tmp_path / "f").write_text("")
    with pytest.raises(ModelDirError, match="is a file"):
        save_model(build_model(SPECS / "tiny.yaml"), tmp_path / "f")


def test_dtype_is_kept_or_converted(tmp_path):
    save_model(build_model(SPECS / "tiny.yaml", dtype=torch.float64), tmp_path)
    assert load_model(tmp_path).embedding.weight.dtype == torch.float64
    assert load_model(tmp_path, dtype=torch.bfloat16).embedding.weight.dtype == torch.bfloat16


def test_a_failed_write_leaves_the_old_directory_whole(tmp_path, monkeypatch):
    save_model(build_model(SPECS / "tiny.yaml", seed=1), tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("safetensors.torch.save_file", fail)
    with pytest.raises(ModelDirError, match="No space left"):
        save_model(build_model(SPECS / "tiny.yaml", seed=2), tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temp files, nothing changed


def test_invalid_generation_defaults_are_refused(tmp_path):
    with pytest.raises(ModelDirError, match="temperature"):
        save_model(build_model(SPECS / "tiny.yaml"), tmp_path, generation={"temperature": 0})
    save_model(build_model(SPECS / "tiny.yaml"), tmp_path)
    (tmp_path / "generation.json").write_text('{"top_p": "high"}')
    with pytest.raises(ModelDirError, match="top_p"):
        load_generation_config(tmp_path)
