"""The config-key policy is transformers' own: derived from the installed version's config classes and
modelling source (``hf_derive``), stored in ``hf_policy_data``, and applied by ``ConfigReader``."""

from __future__ import annotations

import pytest

transformers = pytest.importorskip("transformers", reason="the hf extra is not installed")

from blockforge.interop import UnsupportedConfigError, config_to_spec  # noqa: E402
from blockforge.interop.hf_derive import derive_all, render  # noqa: E402
from blockforge.interop.hf_families import CONVERTERS  # noqa: E402
from blockforge.interop.hf_policy_data import FAMILIES, TRANSFORMERS_VERSION  # noqa: E402
from blockforge.interop.hf_reader import GENERIC_EXPECTED, GENERIC_IGNORED, GENERIC_RELEVANT  # noqa: E402
from blockforge.spec import load_spec, spec_hash  # noqa: E402
from tests.interop.test_hf_config import BERT_BASE, GPT2_SMALL, LLAMA3_8B  # noqa: E402


def test_stored_policy_is_the_installed_transformers_own():
    """Checked against the installed transformers (the ``hf`` extra pins 5.x). After an upgrade,
    regenerate with ``python -m blockforge.interop.hf_derive``."""
    assert sorted(FAMILIES) == sorted(CONVERTERS)
    derived = derive_all(sorted(CONVERTERS))
    assert derived["transformers_version"] == TRANSFORMERS_VERSION, "regenerate hf_policy_data.py"
    for family in CONVERTERS:
        assert FAMILIES[family] == derived["families"][family], f"{family}: regenerate hf_policy_data.py"
    assert render(sorted(CONVERTERS)).startswith('"""Generated')


def test_generic_keys_of_pretrained_config_are_all_classified():
    """Every field of transformers' ``PreTrainedConfig`` and every generation setting it pops is either
    inert, required to hold one value, or relevant everywhere."""
    import dataclasses

    from transformers import GenerationConfig, PreTrainedConfig

    generic = {f.name for f in dataclasses.fields(PreTrainedConfig)} - {"architectures"}
    generic |= set(GenerationConfig._get_default_generation_params())
    known = GENERIC_IGNORED | set(GENERIC_EXPECTED) | GENERIC_RELEVANT
    assert generic - known == set()


def _published_default(family: str) -> dict:
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    return CONFIG_MAPPING[family]().to_dict()


@pytest.mark.parametrize("family", sorted(CONVERTERS))
def test_absent_keys_take_transformers_defaults(family):
    """``{"model_type": f}`` alone imports to the same architecture as transformers' default config
    written out in full: every absent key took the config class's default, not a blockforge one."""
    bare = config_to_spec({"model_type": family})
    full = config_to_spec(_published_default(family))
    assert spec_hash(load_spec(bare)) == spec_hash(load_spec(full))


FALSE_REFUSALS = {  # issue 13's ten: (config, the keys transformers 5 stores and never reads)
    "gpt2-medium": ({**GPT2_SMALL, "n_special": 0, "predict_special_tokens": True},
                    ["n_special", "predict_special_tokens"]),
    "gpt2-xl": ({**GPT2_SMALL, "output_past": True}, ["output_past"]),
    "distilgpt2": ({**GPT2_SMALL, "_num_labels": 1}, ["_num_labels"]),
    "qwen2.5": ({**LLAMA3_8B, "model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "use_mrope": False,
                 "use_sliding_window": False, "sliding_window": 131072, "max_window_layers": 21}, ["use_mrope"]),
    "smollm2": ({**LLAMA3_8B, "is_llama_config": True, "rope_interleaved": False},
                ["is_llama_config", "rope_interleaved"]),
    "bert-tf": ({**BERT_BASE, "architectures": ["BertModel"], "directionality": "bidi", "pooler_fc_size": 768,
                 "pooler_num_attention_heads": 12, "pooler_num_fc_layers": 3, "pooler_size_per_head": 128,
                 "pooler_type": "first_token_transform"},
                ["directionality", "pooler_fc_size", "pooler_num_attention_heads", "pooler_num_fc_layers",
                 "pooler_size_per_head", "pooler_type"]),
    "bert-adapters": ({**BERT_BASE, "architectures": ["BertModel"], "adapters": {}}, ["adapters"]),
    "llama-2-tp": ({**LLAMA3_8B, "pretraining_tp": 2}, ["pretraining_tp"]),
}


@pytest.mark.parametrize("name", sorted(FALSE_REFUSALS))
def test_keys_transformers_never_reads_are_accepted(name):
    from blockforge.interop.hf_reader import ConfigReader

    config, inert = FALSE_REFUSALS[name]
    load_spec(config_to_spec(config))
    reader = ConfigReader(config, config["model_type"])
    CONVERTERS[config["model_type"]](reader)
    reader.finish("<config>")
    assert set(inert) <= set(reader.inert)
    assert not set(inert) & reader.relevant


def test_keys_the_model_reads_are_refused_by_name_all_at_once():
    config = {**LLAMA3_8B, "attention_chunk_size": 8192, "is_causal": False, "harmless_note": "x"}
    with pytest.raises(UnsupportedConfigError) as info:
        config_to_spec(config)
    assert sorted(p.key for p in info.value.problems) == ["attention_chunk_size", "is_causal"]
