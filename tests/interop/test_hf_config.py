"""Config import: transformers config.json -> blockforge spec. Refuses anything it cannot reproduce.

These tests need neither torch nor transformers (except the one that reads a real config object)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from blockforge.cli import app
from blockforge.interop import InteropError, UnsupportedConfigError, config_to_spec, import_config
from blockforge.spec import load_spec

GPT2_SMALL = {  # the published gpt2 config.json, as transformers writes it
    "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
    "bos_token_id": 50256, "embd_pdrop": 0.1, "eos_token_id": 50256, "initializer_range": 0.02,
    "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 1024, "n_embd": 768, "n_head": 12,
    "n_layer": 12, "n_positions": 1024, "resid_pdrop": 0.1, "summary_activation": None,
    "summary_first_dropout": 0.1, "summary_proj_to_labels": True, "summary_type": "cls_index",
    "summary_use_proj": True, "task_specific_params": {"text-generation": {"do_sample": True, "max_length": 50}},
    "vocab_size": 50257,
}

LLAMA3_8B = {  # published configs, as transformers 4.x wrote them
    "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "bos_token_id": 128000, "eos_token_id": 128001, "hidden_act": "silu", "hidden_size": 4096,
    "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 8192, "model_type": "llama",
    "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "pretraining_tp": 1,
    "rms_norm_eps": 1e-05, "rope_scaling": None, "rope_theta": 500000.0, "tie_word_embeddings": False,
    "torch_dtype": "bfloat16", "transformers_version": "4.40.0.dev0", "use_cache": True, "vocab_size": 128256,
}
MISTRAL_7B = {
    "architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
    "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 32768,
    "model_type": "mistral", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
    "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096, "tie_word_embeddings": False,
    "torch_dtype": "bfloat16", "transformers_version": "4.34.0.dev0", "use_cache": True, "vocab_size": 32000,
}
BERT_BASE = {
    "architectures": ["BertForMaskedLM"], "attention_probs_dropout_prob": 0.1, "gradient_checkpointing": False,
    "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 768, "initializer_range": 0.02,
    "intermediate_size": 3072, "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "model_type": "bert",
    "num_attention_heads": 12, "num_hidden_layers": 12, "pad_token_id": 0, "position_embedding_type": "absolute",
    "transformers_version": "4.6.0.dev0", "type_vocab_size": 2, "use_cache": True, "vocab_size": 30522,
}
GEMMA2_2B = {  # google/gemma-2-2b's config.json (transformers 4.42 wrote the legacy hidden_act too)
    "architectures": ["Gemma2ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "attn_logit_softcapping": 50.0, "bos_token_id": 2, "cache_implementation": "hybrid", "eos_token_id": [1, 107],
    "final_logit_softcapping": 30.0, "head_dim": 256, "hidden_act": "gelu_pytorch_tanh",
    "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 2304, "initializer_range": 0.02,
    "intermediate_size": 9216, "max_position_embeddings": 8192, "model_type": "gemma2", "num_attention_heads": 8,
    "num_hidden_layers": 26, "num_key_value_heads": 4, "pad_token_id": 0, "query_pre_attn_scalar": 256,
    "rms_norm_eps": 1e-06, "rope_theta": 10000.0, "sliding_window": 4096, "torch_dtype": "float32",
    "transformers_version": "4.42.4", "use_cache": True, "vocab_size": 256000,
}
PYTHIA_70M = {  # EleutherAI/pythia-70m's config.json (legacy rotary_pct / rotary_emb_base keys)
    "architectures": ["GPTNeoXForCausalLM"], "bos_token_id": 0, "classifier_dropout": 0.1, "eos_token_id": 0,
    "hidden_act": "gelu", "hidden_dropout": 0.0, "attention_dropout": 0.0, "hidden_size": 512,
    "initializer_range": 0.02, "intermediate_size": 2048, "layer_norm_eps": 1e-05, "max_position_embeddings": 2048,
    "model_type": "gpt_neox", "num_attention_heads": 8, "num_hidden_layers": 6, "rope_scaling": None,
    "rotary_emb_base": 10000, "rotary_pct": 0.25, "tie_word_embeddings": False, "torch_dtype": "float16",
    "transformers_version": "4.24.0", "use_cache": True, "use_parallel_residual": True, "vocab_size": 50304,
}

runner = CliRunner()


@pytest.mark.parametrize(
    ("config", "spec_file"),
    [
        (GPT2_SMALL, "gpt2-small.yaml"),
        (LLAMA3_8B, "llama3-8b.yaml"),
        (MISTRAL_7B, "mistral-7b.yaml"),
        ({**BERT_BASE, "architectures": ["BertForSequenceClassification"]}, "bert-base.yaml"),
        (GEMMA2_2B, "gemma2-2b.yaml"),
    ],
    ids=["gpt2", "llama3", "mistral", "bert", "gemma2"],
)
def test_published_configs_give_the_hand_written_specs(config, spec_file):
    """Independent check: each published config imports to exactly the architecture written by hand
    in specs/ (same canonical hash)."""
    from blockforge.spec import spec_hash

    assert spec_hash(load_spec(config_to_spec(config))) == spec_hash(load_spec(f"specs/{spec_file}"))


@pytest.mark.parametrize(
    ("config", "key", "value", "message"),
    [
        (LLAMA3_8B, "rope_scaling", {"rope_type": "llama3", "factor": 8.0}, "rope type 'llama3' needs "
         "'low_freq_factor', 'high_freq_factor'"),
        (LLAMA3_8B, "rope_scaling", {"type": "linear"}, "rope type 'linear' needs 'factor'"),
        (LLAMA3_8B, "rope_scaling", {"rope_type": "mrope", "factor": 2.0}, "rope type 'mrope' is not supported"),
        (LLAMA3_8B, "rope_theta", "big", "expected float or int or null"),
        (LLAMA3_8B, "hidden_act", "gelu_fast", "no exact blockforge equivalent"),
        (MISTRAL_7B, "layer_types", ["sliding_attention", "full_attention"], "per-layer attention types"),
        ({**MISTRAL_7B, "model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"]}, "use_sliding_window", True, "reproduces only False"),
        (BERT_BASE, "architectures", ["BertForTokenClassification"], "reproduces only BertForMaskedLM, "),
        (BERT_BASE, "is_decoder", True, "reproduces only False"),
        (LLAMA3_8B, "architectures", ["LlamaForTokenClassification"], "reproduces only LlamaForCausalLM"),
        (GPT2_SMALL, "architectures", ["GPT2DoubleHeadsModel"], "reproduces only GPT2LMHeadModel"),
        (GEMMA2_2B, "layer_types", ["sliding_attention", "chunked_attention"] * 13, "supported layer types"),
        (GEMMA2_2B, "layer_types", ["full_attention"] * 25, "one entry per layer (num_hidden_layers=26), got 25"),
        (GEMMA2_2B, "sliding_window", None, "need an integer sliding_window"),
        (GEMMA2_2B, "use_bidirectional_attention", True, "reproduces only None or False"),
        (GEMMA2_2B, "hidden_activation", "gelu_fast", "no exact blockforge equivalent"),
        (GEMMA2_2B, "query_pre_attn_scalar", 0, "must be positive"),
        (GEMMA2_2B, "rope_scaling", {"rope_type": "proportional"}, "rope type 'proportional' is not supported"),
        (GEMMA2_2B, "architectures", ["Gemma2ForSequenceClassification"], "reproduces only Gemma2ForCausalLM"),
        (GEMMA2_2B, "attn_logit_softcapping", "50", "expected float or int or null"),
        (PYTHIA_70M, "rotary_pct", 0.3, "must be even"),
        (PYTHIA_70M, "use_parallel_residual", "yes", "expected bool"),
        (PYTHIA_70M, "rope_scaling", {"rope_type": "yarn"}, "rope type 'yarn' needs 'factor'"),
        (PYTHIA_70M, "hidden_act", "gelu_fast", "no exact blockforge equivalent"),
        (PYTHIA_70M, "architectures", ["GPTNeoXForSequenceClassification"], "reproduces only GPTNeoXForCausalLM"),
        (PYTHIA_70M, "is_causal", False, "model reads this key, and blockforge does not reproduce it"),
    ],
)
def test_unsupported_values_of_other_families(config, key, value, message):
    with pytest.raises(UnsupportedConfigError) as info:
        config_to_spec({**config, key: value})
    assert key in [p.key for p in info.value.problems] and message in str(info.value)


def test_architecture_override():
    """bert-base-uncased ships as BertForMaskedLM: its masked-LM head (tied), or the encoder alone."""
    assert config_to_spec(BERT_BASE)["model"]["head"] == {
        "type": "masked_lm", "activation": {"type": "gelu"}, "norm": {"type": "layernorm", "eps": 1e-12}, "tied": True}
    assert config_to_spec(BERT_BASE, architecture="BertModel")["model"]["head"] == {"type": "hidden"}
    spec = config_to_spec(BERT_BASE, architecture="BertForSequenceClassification")
    assert spec["model"]["head"]["type"] == "classifier"


def test_llama_family_details():
    m = config_to_spec({**LLAMA3_8B, "attention_bias": True, "num_key_value_heads": 32, "head_dim": 256,
                        "rope_scaling": {"rope_type": "linear", "factor": 4.0}, "tie_word_embeddings": True})["model"]
    assert m["block"]["attention"] == {"type": "mha", "heads": 32, "head_dim": 256, "causal": True, "bias": True,
                                       "dropout": 0.0}
    assert m["positional"] == {"type": "rope", "theta": 500000.0, "scaling": 4.0}
    assert m["head"]["tied"] is True
    q = config_to_spec({**MISTRAL_7B, "model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"],
                        "sliding_window": None,
                        "use_sliding_window": False, "max_window_layers": 28})["model"]
    assert q["block"]["attention"]["bias"] is True and q["block"]["attention"]["out_bias"] is False
    assert "window" not in q["block"]["attention"]
    g = config_to_spec({**LLAMA3_8B, "hidden_act": "gelu"})["model"]["block"]["feedforward"]
    assert g == {"type": "glu", "hidden": 14336, "activation": {"type": "gelu"}, "bias": False}


def test_gemma2_details():
    """Every Gemma 2 setting lands where the model reads it; layer types become a layer plan."""
    m = config_to_spec(GEMMA2_2B)["model"]
    attn = m["block"]["attention"]
    assert attn["scale"] == 256**-0.5 and attn["head_dim"] == 256 and attn["softcap"] == 50.0
    assert "window" not in attn and m["plan"]["pattern"] == ["local", "global"]
    assert m["plan"]["variants"]["local"] == {"attention": {"window": 4096}}
    assert m["block"]["norm"] == {"type": "rmsnorm", "eps": 1e-6, "unit_offset": True}
    assert m["block"]["norm_position"] == "sandwich" and m["embedding"]["scale"] == "sqrt_d_model"
    assert m["head"] == {"type": "lm", "tied": True, "softcap": 30.0}
    assert m["block"]["feedforward"] == {"type": "geglu", "hidden": 9216, "approximate": "tanh"}
    # query_pre_attn_scalar, not head_dim, sets the scale (Gemma 2 9B/27B differ)
    scaled = config_to_spec({**GEMMA2_2B, "query_pre_attn_scalar": 144})["model"]
    assert scaled["block"]["attention"]["scale"] == 144**-0.5
    no_caps = config_to_spec({**GEMMA2_2B, "attn_logit_softcapping": None, "final_logit_softcapping": None,
                              "hidden_activation": "gelu", "tie_word_embeddings": False})["model"]
    assert "softcap" not in no_caps["block"]["attention"] and no_caps["head"] == {"type": "lm", "tied": False}
    assert no_caps["block"]["feedforward"]["approximate"] == "none"
    types = ["full_attention", "sliding_attention", "sliding_attention"] * 2
    irregular = config_to_spec({**GEMMA2_2B, "num_hidden_layers": 6, "layer_types": types})["model"]
    assert irregular["plan"]["pattern"] == ["global", "local", "local"]
    every = config_to_spec({**GEMMA2_2B, "layer_types": ["sliding_attention"] * 26})["model"]
    assert every["block"]["attention"]["window"] == 4096 and "plan" not in every
    full = config_to_spec({**GEMMA2_2B, "layer_types": ["full_attention"] * 26, "sliding_window": None})["model"]
    assert "window" not in full["block"]["attention"] and "plan" not in full
    # as transformers 5 writes it: rope_parameters, layer_types, no legacy keys
    transformers = pytest.importorskip("transformers", reason="the hf extra is not installed; CI installs it")
    cfg = transformers.Gemma2Config(**{k: v for k, v in GEMMA2_2B.items() if k not in (
        "hidden_act", "cache_implementation", "torch_dtype", "transformers_version", "rope_theta", "model_type")})
    from blockforge.spec import spec_hash

    assert spec_hash(load_spec(config_to_spec(json.loads(cfg.to_json_string())))) == spec_hash(
        load_spec("specs/gemma2-2b.yaml"))


def test_gpt_neox_details():
    m = config_to_spec(PYTHIA_70M)["model"]
    assert m["block"]["type"] == "parallel" and m["block"]["ff_norm"] == m["block"]["norm"] == {
        "type": "layernorm", "eps": 1e-5}
    assert m["positional"] == {"type": "rope", "theta": 10000.0, "fraction": 0.25}
    assert m["block"]["attention"] == {"type": "mha", "heads": 8, "causal": True, "bias": True, "dropout": 0.0}
    assert m["head"] == {"type": "lm", "bias": False, "tied": False}
    seq = config_to_spec({**PYTHIA_70M, "use_parallel_residual": False, "rotary_emb_base": 500,
                          "rope_parameters": {"rope_type": "default", "partial_rotary_factor": 0.5}})["model"]
    assert seq["block"]["type"] == "transformer" and seq["block"]["norm_position"] == "pre"
    assert seq["positional"] == {"type": "rope", "theta": 500.0, "fraction": 0.5}  # rope_parameters wins


def test_published_gpt_neox_config_has_transformers_parameter_count():
    """pythia-70m: the imported spec has as many parameters as transformers' own model of that config
    (built on the meta device), 70,426,624."""
    transformers = pytest.importorskip("transformers", reason="the hf extra is not installed; CI installs it")
    import torch

    from blockforge.build import build_model

    with torch.device("meta"):
        ref = transformers.GPTNeoXForCausalLM(transformers.GPTNeoXConfig(**{
            k: v for k, v in PYTHIA_70M.items() if k not in ("torch_dtype", "transformers_version", "model_type")}))
    theirs = sum(p.numel() for p in ref.parameters())
    assert theirs == 70_426_624
    ours = build_model(config_to_spec(PYTHIA_70M), device="meta")
    assert sum(p.numel() for p in ours.parameters()) == theirs


def test_gpt2_small_config_gives_the_gpt2_small_spec():
    """The imported spec is architecturally identical to the hand-written specs/gpt2-small.yaml."""
    from blockforge.spec import spec_hash

    spec = config_to_spec(GPT2_SMALL)
    assert spec_hash(load_spec(spec)) == spec_hash(load_spec("specs/gpt2-small.yaml"))
    assert spec["model"]["block"]["feedforward"]["activation"] == {"type": "gelu", "approximate": "tanh"}
    assert spec["model"]["block"]["norm"] == {"type": "layernorm", "eps": 1e-5}


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("activation_function", "gelu_fast", "activation 'gelu_fast' has no exact blockforge equivalent"),
        ("scale_attn_by_inverse_layer_idx", True, "reproduces only False"),
        ("reorder_and_upcast_attn", True, "reproduces only False"),
        ("scale_attn_weights", False, "reproduces only True"),
        ("add_cross_attention", True, "reproduces only False"),
        ("pruned_heads", {"0": [1]}, "reproduces only {}"),
        ("sliding_window", 64, "model reads this key, and blockforge does not reproduce it"),
        ("n_embd", "768", "expected int"),
        ("tie_word_embeddings", "yes", "expected bool"),
    ],
)
def test_unsupported_fields_are_named(key, value, message):
    with pytest.raises(UnsupportedConfigError) as info:
        config_to_spec({**GPT2_SMALL, key: value}, source="cfg.json")
    text = str(info.value)
    assert f"{key} = {value!r}" in text and message in text and text.startswith("cfg.json:")
    assert [p.key for p in info.value.problems] == [key]


def test_every_problem_is_reported_at_once():
    cfg = {**GPT2_SMALL, "foo": 1, "is_causal": False, "attention_chunk_size": 8, "activation_function": "quick_gelu"}
    del cfg["n_head"]  # absent: transformers' GPT2Config default (12)
    with pytest.raises(UnsupportedConfigError) as info:
        config_to_spec(cfg)
    assert sorted(p.key for p in info.value.problems) == ["activation_function", "attention_chunk_size", "is_causal"]


def test_unknown_family():
    with pytest.raises(InteropError, match="model_type 't5' is not supported; supported: .*gpt2"):
        config_to_spec({"model_type": "t5"})
    with pytest.raises(InteropError, match="has no 'model_type'"):
        config_to_spec({"n_embd": 3})


def test_read_errors(tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text('{"model_type": "gpt2",\n  "n_embd": }')
    with pytest.raises(InteropError, match=r"config.json:2:13: malformed JSON"):
        import_config(bad)
    with pytest.raises(InteropError, match="cannot read"):
        import_config(tmp_path / "absent.json")
    bad.write_text("[1, 2]")
    with pytest.raises(InteropError, match="a transformers config is a JSON object"):
        import_config(bad)


def test_transformers_config_object():
    transformers = pytest.importorskip("transformers", reason="the hf extra is not installed; CI installs it")
    cfg = transformers.GPT2Config(n_embd=64, n_layer=3, n_head=8, activation_function="relu",
                                  layer_norm_epsilon=1e-6, n_inner=100)
    m = config_to_spec(cfg)["model"]
    assert (m["d_model"], m["n_layers"], m["block"]["attention"]["heads"]) == (64, 3, 8)
    assert m["block"]["feedforward"]["hidden"] == 100
    assert m["block"]["feedforward"]["activation"] == {"type": "relu"}
    assert m["final_norm"]["eps"] == 1e-6
    # the saved config.json of a transformers config reads the same
    assert config_to_spec(json.loads(cfg.to_json_string()))["model"] == m


def test_cli_writes_a_valid_spec_atomically(tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(GPT2_SMALL))
    out = tmp_path / "spec.yaml"
    r = runner.invoke(app, ["import-hf", str(cfg), "-o", str(out), "--name", "gpt2-imported"])
    assert r.exit_code == 0, r.output
    assert f"wrote {out}" in r.output
    spec = load_spec(out)
    assert spec.name == "gpt2-imported" and spec.model.d_model == 768
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "spec.yaml"]
    r = runner.invoke(app, ["import-hf", str(cfg)])  # to stdout
    assert r.exit_code == 0 and "blockforge: 1" in r.output and "n_layers: 12" in r.output


def test_cli_errors_leave_no_file(tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({**GPT2_SMALL, "activation_function": "gelu_fast", "n_head": 7}))
    out = tmp_path / "spec.yaml"
    out.write_text("previous content\n")
    r = runner.invoke(app, ["import-hf", str(cfg), "-o", str(out)])
    assert r.exit_code == 1, r.output
    assert "activation_function = 'gelu_fast'" in r.output and "Traceback" not in r.output
    assert out.read_text() == "previous content\n"
    # a config that converts but breaks a shape contract is refused by validation, located
    cfg.write_text(json.dumps({**GPT2_SMALL, "n_head": 7}))
    r = runner.invoke(app, ["import-hf", str(cfg), "-o", str(out)])
    assert r.exit_code == 1 and "not divisible by heads=7" in r.output
    assert out.read_text() == "previous content\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "spec.yaml"]
    cfg.write_text(json.dumps({**GPT2_SMALL, "architectures": ["GPT2Model"]}))
    r = runner.invoke(app, ["import-hf", str(cfg), "-o", str(out), "--architecture", "GPT2LMHeadModel"])
    assert r.exit_code == 0 and load_spec(out).model.d_model == 768
    r = runner.invoke(app, ["import-hf", str(tmp_path / "missing.json")])
    assert r.exit_code in (1, 2) and "Traceback" not in r.output


def test_import_needs_neither_torch_nor_transformers(tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(GPT2_SMALL))
    code = (
        "import sys\n"
        "sys.modules['transformers'] = None\n"  # as if the hf extra were not installed
        "from blockforge.cli import app\n"
        "from typer.testing import CliRunner\n"
        f"r = CliRunner().invoke(app, ['import-hf', {str(cfg)!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "import blockforge, torch\n"
        "m = blockforge.build_model('specs/tiny.yaml')\n"  # and blockforge works without transformers
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=".")
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_cli_imports_gemma2(tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(GEMMA2_2B))
    out = tmp_path / "gemma2.yaml"
    r = runner.invoke(app, ["import-hf", str(cfg), "-o", str(out)])
    assert r.exit_code == 0, r.output
    spec = load_spec(out)
    assert spec.model.n_layers == 26 and spec.model.head.softcap == 30.0
    assert spec.model.block.attention.scale == 0.0625
    cfg.write_text(json.dumps({**GEMMA2_2B, "layer_types": ["chunked_attention"] * 26}))
    r = runner.invoke(app, ["import-hf", str(cfg), "-o", str(tmp_path / "bad.yaml")])
    assert r.exit_code == 1 and "layer_types" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "bad.yaml").exists()


def test_cli_imports_gpt_neox(tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(PYTHIA_70M))
    r = runner.invoke(app, ["import-hf", str(cfg)])
    assert r.exit_code == 0, r.output
    assert "type: parallel" in r.output and "fraction: 0.25" in r.output


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        ({"num_attention_heads": 0}, "num_attention_heads", "greater than 0"),
        ({"rms_norm_eps": -1.0}, "rms_norm_eps", "(as model.block.norm.eps)"),
        ({"rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 4.0, "high_freq_factor": 1.0,
                           "original_max_position_embeddings": 8192}}, "rope_scaling", "must exceed low_freq_factor"),
    ],
)
def test_spec_errors_point_at_the_config_key(change, key, message):
    with pytest.raises(UnsupportedConfigError) as info:
        config_to_spec({**LLAMA3_8B, **change}, source="cfg.json")
    assert [p.key for p in info.value.problems] == [key]
    assert message in str(info.value) and "<dict>" not in str(info.value)


def test_gemma_legacy_gelu_is_the_tanh_approximation():
    """GemmaConfig turns the official releases' ``hidden_act: gelu`` into ``gelu_pytorch_tanh``."""
    ff = config_to_spec({"model_type": "gemma", "hidden_act": "gelu"})["model"]["block"]["feedforward"]
    assert ff["type"] == "geglu" and ff["approximate"] == "tanh"


def test_cli_lists_families_architectures_and_rope_types():
    from blockforge.interop.hf_families import ARCHITECTURES, CONVERTERS, ROPE_SETTINGS

    r = runner.invoke(app, ["import-hf", "--list"])
    assert r.exit_code == 0, r.output
    assert sorted(ARCHITECTURES) == sorted(CONVERTERS)
    for family, archs in ARCHITECTURES.items():
        assert f"  {family}: {', '.join(archs)}" in r.output
    assert f"rope types: {', '.join(ROPE_SETTINGS)}" in r.output
    assert runner.invoke(app, ["import-hf"]).exit_code == 2  # neither a config nor --list


@pytest.mark.parametrize("family", ["bert", "gemma", "gemma2", "gpt2", "gpt_neox", "llama", "mistral", "mixtral",
                                    "qwen2", "qwen3", "qwen3_moe", "starcoder2"])
def test_listed_architectures_are_the_ones_converted(family):
    """Every listed class imports (on transformers' defaults); an unlisted one of the family is refused."""
    from blockforge.interop.hf_families import ARCHITECTURES

    heads = set()
    for arch in ARCHITECTURES[family]:
        heads.add(config_to_spec({"model_type": family, "architectures": [arch]})["model"]["head"]["type"])
    assert len(heads) == len(ARCHITECTURES[family])  # each class is a different head
    with pytest.raises(UnsupportedConfigError, match="architectures"):
        config_to_spec({"model_type": family, "architectures": ["SomethingForTokenClassification"]})
