"""Weights both ways: transformers state dicts and .safetensors files into compiled models, and the
compiled models' weights back out in the transformers layout; mismatches reported by name and shape."""

from __future__ import annotations

import pytest

transformers = pytest.importorskip(
    "transformers", reason="the hf extra is not installed (pip install 'blockforge[hf]'); CI installs it"
)

import torch  # noqa: E402

from blockforge.build import build_model  # noqa: E402
from blockforge.interop import (  # noqa: E402
    InteropError,
    WeightMismatchError,
    config_to_spec,
    export_hf_state_dict,
    load_hf_state_dict,
    load_hf_weights,
    read_safetensors,
    save_hf_weights,
)
from tests.interop.families import FAMILIES, MAX_LEN, VOCAB  # noqa: E402

TOL32 = 1e-4


@pytest.fixture(params=sorted(k for k, f in FAMILIES.items() if f.new_layout))
def case(request) -> str:
    """A key of FAMILIES (several cases may share one transformers family)."""
    return request.param


def hf_pair(family: str, seed: int = 0):
    """A random transformers model and a blockforge model of the same spec (different weights)."""
    torch.manual_seed(seed)
    ref = FAMILIES[family].make().eval()
    ours = build_model(config_to_spec(ref.config), seed=123).eval()
    return ref, ours


def logits_close(ref, ours) -> float:
    ids = torch.randint(0, VOCAB, (2, MAX_LEN), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        out = ref(input_ids=ids)
        theirs = out.logits if hasattr(out, "logits") else out.last_hidden_state
        return (theirs - ours(ids)).abs().max().item()


def test_export_loads_strictly_into_transformers(case):
    """blockforge -> transformers: every key transformers expects, nothing else, same outputs."""
    family = FAMILIES[case].name
    ref, ours = hf_pair(case)
    assert logits_close(ref, ours) > 1e-2  # different weights before the transfer
    exported = export_hf_state_dict(ours, family=family)
    result = ref.load_state_dict(exported, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert logits_close(ref, ours) <= TOL32


def test_import_then_export_is_identity(case):
    family = FAMILIES[case].name
    ref, ours = hf_pair(case)
    theirs = ref.state_dict()
    report = load_hf_state_dict(ours, theirs, family=family)
    assert report.ok
    assert set(report.loaded) == set(export_hf_state_dict(ours, family=family, include_aliases=False))
    back = export_hf_state_dict(ours, family=family)
    assert set(back) <= set(theirs)
    for key, t in back.items():
        assert torch.equal(t, theirs[key]), key


def test_safetensors_round_trip(case, tmp_path):
    """blockforge -> .safetensors -> transformers and -> blockforge, via the safetensors package."""
    family = FAMILIES[case].name
    ref, ours = hf_pair(case)
    path = tmp_path / "model.safetensors"
    save_hf_weights(ours, path, family=family)
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, nothing left behind
    on_disk = read_safetensors(path)
    assert "lm_head.weight" not in on_disk or not ours.blockforge_spec["model"]["head"]["tied"]
    missing, unexpected = ref.load_state_dict(on_disk, strict=False)
    tied = {"lm_head.weight", "cls.predictions.decoder.weight", "cls.predictions.decoder.bias"}
    assert not unexpected and set(missing) <= tied  # the tied tensors, re-tied below
    ref.tie_weights()
    assert logits_close(ref, ours) <= TOL32
    fresh = build_model(ours.blockforge_spec, seed=7).eval()
    report = load_hf_weights(fresh, path, family=family)
    assert report.ok
    for (k, a), b in zip(ours.state_dict().items(), fresh.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_report_names_missing_unexpected_and_mismatched_tensors(case):
    family = FAMILIES[case].name
    ref, ours = hf_pair(case)
    sd = dict(ref.state_dict())
    own = export_hf_state_dict(ours, family=family, include_aliases=False)
    keys = [k for k, v in sd.items() if v.dim() == 2 and k in own]
    dropped, resized = keys[0], keys[-1]
    expected_shape = tuple(sd[resized].shape)
    del sd[dropped]
    sd[resized] = torch.zeros(expected_shape[0] + 1, expected_shape[1])
    sd["something.else.weight"] = torch.zeros(3, 4)
    before = {k: v.clone() for k, v in ours.state_dict().items()}
    with pytest.raises(WeightMismatchError) as info:
        load_hf_state_dict(ours, sd, family=family)
    report = info.value.report
    assert report.missing == [(dropped, tuple(ref.state_dict()[dropped].shape))]
    assert report.unexpected == [("something.else.weight", (3, 4))]
    assert report.mismatched == [(resized, (expected_shape[0] + 1, expected_shape[1]), expected_shape)]
    message = str(info.value)
    assert dropped in message and resized in message and "something.else.weight" in message
    assert f"[{expected_shape[0] + 1}, {expected_shape[1]}]" in message and str(list(expected_shape)) in message
    for k, v in ours.state_dict().items():  # strict: nothing was copied
        assert torch.equal(v, before[k]), k
    # non-strict: what fits is loaded and the report is returned
    report = load_hf_state_dict(ours, sd, family=family, strict=False)
    assert not report.ok and dropped not in report.loaded and resized not in report.loaded
    assert set(report.loaded) == set(own) - {dropped, resized}
    changed = [k for k, v in ours.state_dict().items() if not torch.equal(v, before[k])]
    assert changed  # what fitted was copied


def test_transpose_is_by_name_not_by_shape():
    """GPT-2's square attention output projection (c_proj, [in, out]) must be transposed."""
    ref, ours = hf_pair("gpt2")
    load_hf_state_dict(ours, ref.state_dict(), family="gpt2")
    w = ref.state_dict()["transformer.h.0.attn.c_proj.weight"]
    assert w.shape[0] == w.shape[1]
    assert torch.equal(ours.state_dict()["blocks.0.attention.out.weight"], w.t())
    assert not torch.equal(w, w.t())


def test_tied_head_must_equal_the_embedding():
    ref, ours = hf_pair("gpt2")
    sd = dict(ref.state_dict())
    assert "lm_head.weight" in sd  # present even though tied
    sd["lm_head.weight"] = sd["lm_head.weight"] + 1.0
    with pytest.raises(WeightMismatchError, match="lm_head.weight.*ties it to transformer.wte.weight"):
        load_hf_state_dict(ours, sd, family="gpt2")


def test_untied_head():
    torch.manual_seed(0)
    cfg = FAMILIES["gpt2"].config(tie_word_embeddings=False)
    ref = transformers.GPT2LMHeadModel(cfg).eval()
    spec = config_to_spec(ref.config)
    assert spec["model"]["head"]["tied"] is False
    ours = build_model(spec).eval()
    load_hf_state_dict(ours, ref.state_dict(), family="gpt2")
    assert logits_close(ref, ours) <= TOL32
    assert "lm_head.weight" in export_hf_state_dict(ours, family="gpt2")


def test_headless_state_dict_is_accepted():
    """A base-model state dict (GPT2Model: no 'transformer.' prefix, no lm_head) loads into a tied model."""
    ref, ours = hf_pair("gpt2")
    base = ref.transformer.state_dict()
    assert not any(k.startswith("transformer.") for k in base)
    assert load_hf_state_dict(ours, base, family="gpt2").ok
    assert logits_close(ref, ours) <= TOL32


def test_wrong_family_or_model_is_refused(tmp_path):
    ref, ours = hf_pair("gpt2")
    with pytest.raises(InteropError, match="no weight layout for family 'nope'"):
        load_hf_state_dict(ours, ref.state_dict(), family="nope")
    seed = build_model(None, device="meta")  # the seed Transformer is post-norm with sinusoidal positions
    with pytest.raises(InteropError, match="not a gpt2 model"):
        export_hf_state_dict(seed, family="gpt2")
    with pytest.raises(InteropError, match="was not built by blockforge"):
        export_hf_state_dict(torch.nn.Linear(2, 2), family="gpt2")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(InteropError, match="cannot read safetensors file"):
        load_hf_weights(ours, bad, family="gpt2")


def test_bert_pooler_is_skipped_for_hidden_states():
    """BertModel with its pooler: the compiled model returns the last hidden states, which match;
    the pooler's weights are known and skipped (not reported as unexpected)."""
    torch.manual_seed(0)
    ref = transformers.BertModel(FAMILIES["bert"].config()).eval()
    ours = build_model(config_to_spec(ref.config)).eval()
    sd = ref.state_dict()
    assert "pooler.dense.weight" in sd
    assert load_hf_state_dict(ours, sd, family="bert").ok
    assert logits_close(ref, ours) <= TOL32


def test_bert_masked_lm_loads_strictly_with_old_buffers():
    """BertForMaskedLM (bert-base-uncased's own architecture) imports and loads strictly, although its
    state dict carries ``embeddings.position_ids`` (written by older transformers); known non-persistent
    buffers of every family are ignored by name and listed in the report; any other stray key is not."""
    ref, ours = hf_pair("bert-mlm")
    sd = dict(ref.state_dict())
    sd["bert.embeddings.position_ids"] = torch.arange(MAX_LEN)[None]
    sd["bert.encoder.layer.0.attention.self.rotary_emb.inv_freq"] = torch.ones(4)  # a rotary buffer
    report = load_hf_state_dict(ours, sd, family="bert")
    assert report.ok and sorted(report.ignored) == ["bert.embeddings.position_ids",
                                                     "bert.encoder.layer.0.attention.self.rotary_emb.inv_freq"]
    assert "ignored 2 tensors" in str(report) and "bert.embeddings.position_ids" in str(report)
    assert logits_close(ref, ours) <= TOL32
    sd["bert.embeddings.position_idz"] = torch.arange(MAX_LEN)[None]
    with pytest.raises(WeightMismatchError, match="unexpected: bert.embeddings.position_idz"):
        load_hf_state_dict(ours, sd, family="bert")


@pytest.mark.parametrize(("case", "buffer"), [
    ("gpt2", "transformer.h.0.attn.bias"), ("llama", "model.layers.1.self_attn.rotary_emb.inv_freq"),
    ("gpt_neox", "gpt_neox.layers.0.attention.masked_bias"), ("bert", "embeddings.token_type_ids"),
    ("gptj", "transformer.h.0.attn.embed_positions"), ("gpt_bigcode", "transformer.bias"),
])
def test_non_persistent_buffers_of_every_family_are_ignored(case, buffer):
    ref, ours = hf_pair(case)
    report = load_hf_state_dict(ours, {**ref.state_dict(), buffer: torch.zeros(1)}, family=FAMILIES[case].name)
    assert report.ok and report.ignored == [buffer]


def test_gpt_neox_fused_qkv_is_split_per_head():
    """GPT-NeoX's query_key_value holds [q_h; k_h; v_h] for each head h in turn; blockforge's qkv holds
    all queries, then all keys, then all values. Checked row block by row block."""
    ref, ours = hf_pair("gpt_neox")
    load_hf_state_dict(ours, ref.state_dict(), family="gpt_neox")
    theirs = ref.state_dict()["gpt_neox.layers.1.attention.query_key_value.weight"]
    mine = ours.state_dict()["blocks.1.attention.qkv.weight"]
    heads, d = 4, 32 // 4
    for h in range(heads):
        for part in range(3):  # q, k, v
            assert torch.equal(mine[(part * heads + h) * d:][:d], theirs[(h * 3 + part) * d:][:d]), (h, part)
    assert not torch.equal(mine, theirs)  # a plain copy would be wrong
    bias = ours.state_dict()["blocks.1.attention.qkv.bias"]
    their_bias = ref.state_dict()["gpt_neox.layers.1.attention.query_key_value.bias"]
    assert torch.equal(bias[heads * d:][:d], their_bias[d:2 * d])  # head 0's keys


def test_gpt_neox_old_checkpoint_names_load():
    """Checkpoints written before transformers 5 (Pythia's) name the output layer embed_out and carry
    causal-mask and rotary buffers; they load (transformers 5 renames embed_out to lm_head too)."""
    ref, ours = hf_pair("gpt_neox")
    sd = dict(ref.state_dict())
    sd["embed_out.weight"] = sd.pop("lm_head.weight")
    for i in range(2):
        sd[f"gpt_neox.layers.{i}.attention.bias"] = torch.ones(1, 1, MAX_LEN, MAX_LEN, dtype=torch.bool).tril()
        sd[f"gpt_neox.layers.{i}.attention.masked_bias"] = torch.tensor(-1e9)
        sd[f"gpt_neox.layers.{i}.attention.rotary_emb.inv_freq"] = torch.ones(1)
    report = load_hf_state_dict(ours, sd, family="gpt_neox")
    assert report.ok and "lm_head.weight" in report.loaded
    assert logits_close(ref, ours) <= TOL32


def _save_sharded(sd, root, shards: int) -> None:
    """Write a state dict as transformers does for a large model: shards plus an index."""
    import json

    from safetensors.torch import save_file

    keys = sorted(sd)
    weight_map = {}
    for i in range(shards):
        name = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        part = {k: sd[k].contiguous() for k in keys[i::shards]}
        save_file(part, str(root / name), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(part, name))
    (root / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))


@pytest.mark.parametrize("shards", [0, 3], ids=["single-file", "sharded"])
def test_checkpoint_directory_imports(tmp_path, shards):
    """A directory as save_pretrained writes it (config.json and one or several safetensors files)."""
    from blockforge.interop import from_hf_directory

    torch.manual_seed(0)
    ref = FAMILIES["llama-gqa"].make().eval()
    ref.config.save_pretrained(tmp_path)
    sd = {k: v for k, v in ref.state_dict().items() if k != "lm_head.weight"}  # tied: saved once
    if shards:
        _save_sharded(sd, tmp_path, shards)
    else:
        from safetensors.torch import save_file

        save_file(sd, str(tmp_path / "model.safetensors"))
    ours, report = from_hf_directory(tmp_path)
    assert report.ok and logits_close(ref, ours) <= TOL32


def test_checkpoint_directory_errors(tmp_path):
    from blockforge.interop import from_hf_directory

    with pytest.raises(InteropError, match="config.json"):
        from_hf_directory(tmp_path)
    FAMILIES["gpt2"].config().save_pretrained(tmp_path)
    (tmp_path / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(InteropError, match=r"no model.safetensors .*found: config.json, pytorch_model.bin"):
        from_hf_directory(tmp_path)
    (tmp_path / "model.safetensors.index.json").write_text('{"weight_map": {"a": "missing.safetensors"}}')
    with pytest.raises(InteropError, match="missing.safetensors"):
        from_hf_directory(tmp_path)


@pytest.mark.parametrize("case", ["gpt2", "llama3.1", "mistral", "qwen3", "gemma", "starcoder2", "mixtral",
                                  "qwen3_moe", "bert-mlm", "bert-cls", "phi3", "stablelm", "stablelm-parallel", "olmo2",
                                  "gpt_bigcode", "gpt_bigcode-mha", "gptj", "qwen2_moe"])
def test_export_directory_loads_with_from_pretrained(case, tmp_path):
    """blockforge -> config.json + model.safetensors -> transformers' from_pretrained: every weight
    loaded (none missing, none unexpected), same outputs; the config maps back to the same spec.
    (Phi-3's architecture is Mistral's with fused tensors and GPT-BigCode without multi-query is GPT-2's,
    so those are exported as themselves when asked; otherwise the first family that maps back is taken.)"""
    from blockforge.interop import save_hf_directory
    from blockforge.spec import load_spec, spec_hash

    ref, ours = hf_pair(case)
    asked = {"phi3": "phi3", "gpt_bigcode-mha": "gpt_bigcode"}.get(case)
    family = save_hf_directory(ours, tmp_path, family=asked)
    assert family == FAMILIES[case].name
    cls = getattr(transformers, FAMILIES[case].model_class)
    loaded, info = cls.from_pretrained(tmp_path, output_loading_info=True, attn_implementation="eager")
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    assert logits_close(loaded.eval(), ours) <= TOL32
    back = config_to_spec(loaded.config, architecture=FAMILIES[case].model_class)
    assert spec_hash(load_spec(back)) == spec_hash(load_spec(ours.blockforge_spec))


def test_export_refuses_what_maps_back_to_no_family(tmp_path):
    from blockforge.interop import save_hf_directory

    _, ours = hf_pair("gpt_neox")
    with pytest.raises(InteropError, match="maps back to no transformers family exactly"):
        save_hf_directory(ours, tmp_path)
    assert not list(tmp_path.iterdir())  # nothing half-written
