"""blockforge ``model`` spec -> transformers ``config.json``: the inverse of :mod:`hf_families`.

Torch-free. A spec maps back to a family when that family's inverse gives a config whose import is the
same architecture (same spec hash): :func:`spec_to_config` tries the families in turn and keeps the
first that round-trips, so an export never claims a family whose model would differ (Phi-3 has Llama's
architecture with fused tensors: a spec is exported as Phi-3 only when asked). Families without
an inverse (Gemma 2, GPT-NeoX) are reported as such.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from blockforge.interop.hf_reader import InteropError

_ACTIVATIONS = {("silu", "none"): "silu", ("gelu", "none"): "gelu", ("gelu", "tanh"): "gelu_pytorch_tanh",
                ("relu", "none"): "relu"}


def _act(ref: Mapping[str, Any] | None) -> str | None:
    if not ref:
        return None
    return _ACTIVATIONS.get((ref.get("type"), ref.get("approximate", "none") or "none"))


def _rope(p: Mapping[str, Any]) -> dict[str, Any]:
    kind = p.get("scaling_type", "linear")
    if kind == "linear" and p.get("scaling", 1.0) == 1.0:
        kind = "default"
    out: dict[str, Any] = {"rope_type": kind, "rope_theta": p["theta"]}
    if p.get("fraction", 1.0) != 1.0:
        out["partial_rotary_factor"] = p["fraction"]
    if kind == "default":
        return out
    out["factor"] = p["scaling"]
    names = {"original_max_len": "original_max_position_embeddings", "low_freq_factor": "low_freq_factor",
             "high_freq_factor": "high_freq_factor", "beta_fast": "beta_fast", "beta_slow": "beta_slow",
             "attention_factor": "attention_factor", "mscale": "mscale", "mscale_all_dim": "mscale_all_dim",
             "truncate": "truncate", "short_factor": "short_factor", "long_factor": "long_factor"}
    from blockforge.interop.hf_families import ROPE_SETTINGS

    required, optional = ROPE_SETTINGS[kind]
    for ours, theirs in names.items():
        if theirs in required + optional and p.get(ours) is not None:
            out[theirs] = p[ours]
    return out


def _decoder(m: Mapping[str, Any], family: str, prefix: str) -> dict[str, Any]:
    block, attn, ff, head = m["block"], m["block"]["attention"], m["block"]["feedforward"], m["head"]
    heads = attn["heads"]
    cfg: dict[str, Any] = {
        "model_type": family, "vocab_size": m["vocab_size"], "hidden_size": m["d_model"],
        "num_hidden_layers": m["n_layers"], "num_attention_heads": heads,
        "num_key_value_heads": attn.get("kv_heads") or heads,
        "head_dim": attn.get("head_dim") or m["d_model"] // heads,
        "max_position_embeddings": m["max_len"], "intermediate_size": ff.get("hidden"),
        "attention_dropout": attn.get("dropout", 0.0), "rope_parameters": _rope(m["positional"]),
    }
    if ff["type"] == "swiglu":
        cfg["hidden_act"] = "silu"
    elif ff["type"] == "geglu":
        cfg["hidden_act"] = "gelu_pytorch_tanh" if ff.get("approximate") == "tanh" else "gelu"
    else:
        cfg["hidden_act"] = _act(ff.get("activation"))
    from blockforge.interop.hf_policy_data import FAMILIES as POLICY

    pad = POLICY[family]["fields"].get("pad_token_id")
    if isinstance(pad, int) and pad >= m["vocab_size"]:  # the class default lies outside this vocabulary
        cfg["pad_token_id"] = None
    norm = block["norm"]
    cfg["rms_norm_eps" if norm["type"] == "rmsnorm" else "norm_epsilon"] = norm["eps"]
    if m.get("init_std") is not None:
        cfg["initializer_range"] = m["init_std"]
    if head["type"] == "classifier":
        cfg["architectures"] = [f"{prefix}ForSequenceClassification"]
        cfg["num_labels"] = head["classes"]
        cfg["tie_word_embeddings"] = False
    else:
        cfg["architectures"] = [f"{prefix}ForCausalLM"]
        cfg["tie_word_embeddings"] = bool(head.get("tied"))
    return cfg


def _llama(m: Mapping[str, Any]) -> dict[str, Any]:
    cfg = _decoder(m, "llama", "Llama")
    cfg["attention_bias"] = m["block"]["attention"]["bias"]
    cfg["mlp_bias"] = m["block"]["feedforward"].get("bias", False)
    return cfg


def _mistral(m: Mapping[str, Any]) -> dict[str, Any]:
    cfg = _decoder(m, "mistral", "Mistral")
    cfg["sliding_window"] = m["block"]["attention"].get("window")
    return cfg


def _qwen2(m: Mapping[str, Any]) -> dict[str, Any]:
    return _decoder(m, "qwen2", "Qwen2")


def _qwen3(m: Mapping[str, Any]) -> dict[str, Any]:
    cfg = _decoder(m, "qwen3", "Qwen3")
    cfg["attention_bias"] = m["block"]["attention"]["bias"]
    return cfg


def _gemma(m: Mapping[str, Any]) -> dict[str, Any]:
    cfg = _decoder(m, "gemma", "Gemma")
    cfg["attention_bias"] = m["block"]["attention"]["bias"]
    return cfg


def _starcoder2(m: Mapping[str, Any]) -> dict[str, Any]:
    cfg = _decoder(m, "starcoder2", "Starcoder2")
    cfg["use_bias"] = m["block"]["attention"]["bias"]
    cfg["sliding_window"] = m["block"]["attention"].get("window")
    cfg["embedding_dropout"] = m.get("dropout", 0.0)
    cfg["residual_dropout"] = m["block"].get("dropout", 0.0)
    return cfg


def _phi3(m: Mapping[str, Any]) -> dict[str, Any]:
    cfg = _decoder(m, "phi3", "Phi3")
    cfg["sliding_window"] = m["block"]["attention"].get("window")
    cfg["resid_pdrop"] = m["block"].get("dropout", 0.0)
    rope = cfg["rope_parameters"]
    if "original_max_position_embeddings" in rope:  # Phi3Config reads it at the top level
        cfg["original_max_position_embeddings"] = rope["original_max_position_embeddings"]
    return cfg


def _stablelm(m: Mapping[str, Any]) -> dict[str, Any]:
    block = m["block"]
    parallel = block["type"] == "parallel"
    if parallel:  # the decoder's shape with one shared norm
        m = {**m, "block": {**block, "type": "transformer", "norm_position": "pre"}}
    cfg = _decoder(m, "stablelm", "StableLm")
    cfg["layer_norm_eps"] = cfg.pop("norm_epsilon")
    cfg["use_qkv_bias"] = block["attention"]["bias"]
    cfg["use_parallel_residual"] = parallel
    cfg["rope_parameters"].setdefault("partial_rotary_factor", 1.0)  # StableLmConfig's default is 0.25
    return cfg


def _olmo2(m: Mapping[str, Any]) -> dict[str, Any]:
    cfg = _decoder(m, "olmo2", "Olmo2")
    cfg["attention_bias"] = m["block"]["attention"]["bias"]
    return cfg


def _moe(m: Mapping[str, Any], family: str, prefix: str) -> dict[str, Any]:
    ff = m["block"]["feedforward"]
    if ff["type"] != "moe" or ff.get("expert") != "glu":
        raise InteropError("not a mixture of gated experts")
    cfg = _decoder(m, family, prefix)
    cfg["hidden_act"] = _act(ff.get("activation"))
    cfg["num_local_experts"], cfg["num_experts_per_tok"] = ff["experts"], ff["top_k"]
    return cfg


def _mixtral(m: Mapping[str, Any]) -> dict[str, Any]:
    cfg = _moe(m, "mixtral", "Mixtral")
    cfg["sliding_window"] = m["block"]["attention"].get("window")
    return cfg


def _qwen3_moe(m: Mapping[str, Any]) -> dict[str, Any]:
    cfg = _moe(m, "qwen3_moe", "Qwen3Moe")
    cfg["moe_intermediate_size"] = cfg.pop("intermediate_size")
    cfg["norm_topk_prob"] = m["block"]["feedforward"].get("normalize", True)
    cfg["attention_bias"] = m["block"]["attention"]["bias"]
    return cfg


def _qwen2_moe(m: Mapping[str, Any]) -> dict[str, Any]:
    ff = m["block"]["feedforward"]
    if not ff.get("shared_gate") or ff.get("shared_hidden") is None:
        raise InteropError("Qwen2-MoE needs a gated shared expert")
    cfg = _moe(m, "qwen2_moe", "Qwen2Moe")
    cfg["num_experts"] = cfg.pop("num_local_experts")
    cfg["moe_intermediate_size"] = cfg.pop("intermediate_size")
    cfg["norm_topk_prob"] = ff.get("normalize", True)
    cfg["shared_expert_intermediate_size"] = ff["shared_hidden"]
    cfg["qkv_bias"] = m["block"]["attention"]["bias"]
    return cfg


def _gpt2(m: Mapping[str, Any]) -> dict[str, Any]:
    block, attn, ff = m["block"], m["block"]["attention"], m["block"]["feedforward"]
    return {
        "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": m["vocab_size"],
        "n_embd": m["d_model"], "n_layer": m["n_layers"], "n_head": attn["heads"], "n_positions": m["max_len"],
        "n_inner": ff.get("hidden"), "activation_function": "gelu_new" if _act(ff.get("activation")) ==
        "gelu_pytorch_tanh" else _act(ff.get("activation")), "layer_norm_epsilon": block["norm"]["eps"],
        "embd_pdrop": m.get("dropout", 0.0), "resid_pdrop": block.get("dropout", 0.0),
        "attn_pdrop": attn.get("dropout", 0.0), "tie_word_embeddings": bool(m["head"].get("tied")),
        **({"initializer_range": m["init_std"]} if m.get("init_std") is not None else {}),
    }


def _gpt_bigcode(m: Mapping[str, Any]) -> dict[str, Any]:
    block, attn, ff, head = m["block"], m["block"]["attention"], m["block"]["feedforward"], m["head"]
    cfg: dict[str, Any] = {
        "model_type": "gpt_bigcode", "vocab_size": m["vocab_size"], "n_embd": m["d_model"], "n_layer": m["n_layers"],
        "n_head": attn["heads"], "multi_query": attn.get("kv_heads") == 1 and attn["heads"] > 1,
        "n_positions": m["max_len"], "n_inner": ff.get("hidden"), "activation_function": _act(ff.get("activation")),
        "layer_norm_epsilon": block["norm"]["eps"], "embd_pdrop": m.get("dropout", 0.0),
        "resid_pdrop": block.get("dropout", 0.0), "attn_pdrop": attn.get("dropout", 0.0),
        **({"initializer_range": m["init_std"]} if m.get("init_std") is not None else {}),
    }
    if head["type"] == "classifier":
        cfg.update(architectures=["GPTBigCodeForSequenceClassification"], num_labels=head["classes"],
                   tie_word_embeddings=False)
    else:
        cfg.update(architectures=["GPTBigCodeForCausalLM"], tie_word_embeddings=bool(head.get("tied")))
    return cfg


def _gptj(m: Mapping[str, Any]) -> dict[str, Any]:
    block, attn, ff, head, pos = m["block"], m["block"]["attention"], m["block"]["feedforward"], m["head"], m["positional"]
    if block["type"] != "parallel" or not isinstance(pos, dict) or not pos.get("interleaved"):
        raise InteropError("not a parallel block with interleaved RoPE")
    head_dim = m["d_model"] // attn["heads"]
    cfg: dict[str, Any] = {
        "model_type": "gptj", "vocab_size": m["vocab_size"], "n_embd": m["d_model"], "n_layer": m["n_layers"],
        "n_head": attn["heads"], "n_positions": m["max_len"], "n_inner": ff.get("hidden"),
        "rotary_dim": int(head_dim * pos.get("fraction", 1.0)) // 2 * 2,
        "activation_function": "gelu_new" if _act(ff.get("activation")) == "gelu_pytorch_tanh" else _act(
            ff.get("activation")), "layer_norm_epsilon": block["norm"]["eps"], "embd_pdrop": m.get("dropout", 0.0),
        "resid_pdrop": block.get("dropout", 0.0), "attn_pdrop": attn.get("dropout", 0.0),
        **({"initializer_range": m["init_std"]} if m.get("init_std") is not None else {}),
    }
    if head["type"] == "classifier":
        cfg.update(architectures=["GPTJForSequenceClassification"], num_labels=head["classes"],
                   tie_word_embeddings=False)
    else:
        cfg.update(architectures=["GPTJForCausalLM"], tie_word_embeddings=bool(head.get("tied")))
    return cfg


def _bert(m: Mapping[str, Any]) -> dict[str, Any]:
    block, attn, ff, head = m["block"], m["block"]["attention"], m["block"]["feedforward"], m["head"]
    arch = {"hidden": "BertModel", "classifier": "BertForSequenceClassification",
            "masked_lm": "BertForMaskedLM"}.get(head["type"], "?")
    cfg: dict[str, Any] = {
        "model_type": "bert", "architectures": [arch], "vocab_size": m["vocab_size"], "hidden_size": m["d_model"],
        "num_hidden_layers": m["n_layers"], "num_attention_heads": attn["heads"],
        "intermediate_size": ff.get("hidden"), "hidden_act": _act(ff.get("activation")),
        "max_position_embeddings": m["max_len"], "type_vocab_size": m["embedding"].get("token_types", 0),
        "layer_norm_eps": block["norm"]["eps"], "hidden_dropout_prob": m.get("dropout", 0.0),
        "attention_probs_dropout_prob": attn.get("dropout", 0.0),
        **({"initializer_range": m["init_std"]} if m.get("init_std") is not None else {}),
    }
    if head["type"] == "classifier":
        cfg["num_labels"] = head["classes"]
        cfg["classifier_dropout"] = head.get("dropout")
    if head["type"] == "masked_lm":
        cfg["tie_word_embeddings"] = bool(head.get("tied"))
    return cfg


INVERSES: Mapping[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "llama": _llama, "mistral": _mistral, "qwen2": _qwen2, "qwen3": _qwen3, "gemma": _gemma,
    "starcoder2": _starcoder2, "mixtral": _mixtral, "qwen3_moe": _qwen3_moe, "gpt2": _gpt2, "bert": _bert,
    "stablelm": _stablelm, "phi3": _phi3, "olmo2": _olmo2,
    "gpt_bigcode": _gpt_bigcode, "gptj": _gptj, "qwen2_moe": _qwen2_moe,
}
"""Families that map back: ``model`` spec -> ``config.json`` (checked by a round trip)."""


def spec_to_config(spec: Mapping[str, Any], *, family: str | None = None) -> tuple[str, dict[str, Any]]:
    """The transformers family and ``config.json`` of a spec (a full spec, or a built model's
    ``blockforge_spec``).

    Args:
        spec: ``{"model": ...}``.
        family: the family to export as; None tries each family of :data:`INVERSES`.

    Returns:
        ``(model_type, config)``; importing the config gives the same architecture (same spec hash).

    Raises:
        InteropError: no family reproduces the spec exactly (each tried family's reason listed).
    """
    from blockforge.interop.hf_config import config_to_spec
    from blockforge.spec import load_spec, spec_hash

    target = spec_hash(load_spec(dict(spec)))
    reasons = []
    for name in [family] if family else list(INVERSES):
        inverse = INVERSES.get(name)
        if inverse is None:
            raise InteropError(f"no export to transformers for family {name!r}; families that map back: "
                               f"{', '.join(INVERSES)}")
        try:
            config = inverse(spec["model"])
            back = config_to_spec(config)
        except (KeyError, TypeError, InteropError) as exc:
            reasons.append(f"{name}: {str(exc).splitlines()[-1] if str(exc) else type(exc).__name__}")
            continue
        if spec_hash(load_spec(back)) == target:
            return name, config
        reasons.append(f"{name}: its config imports to a different architecture")
    raise InteropError("this model maps back to no transformers family exactly:\n  " + "\n  ".join(reasons))
