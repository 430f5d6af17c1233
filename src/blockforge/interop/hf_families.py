"""Per-family converters from transformers configs to blockforge ``model`` specs. Torch-free.

Each converter reads its config through a :class:`~blockforge.interop.hf_config.ConfigReader`, so every
key it does not take, check or ignore is reported by :func:`~blockforge.interop.hf_config.config_to_spec`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from blockforge.interop.hf_reader import ConfigReader

# HF activation names -> blockforge activation references (only exact equivalents).
ACTIVATIONS: Mapping[str, Any] = {
    "gelu": {"type": "gelu"},
    "gelu_new": {"type": "gelu", "approximate": "tanh"},
    "gelu_pytorch_tanh": {"type": "gelu", "approximate": "tanh"},
    "relu": {"type": "relu"},
    "silu": {"type": "silu"},
    "swish": {"type": "silu"},
}


def activation(r: ConfigReader, key: str, default: str) -> Any:
    """The blockforge activation for the config's activation name, or a recorded problem."""
    name = r.take(key, default, types=str)
    if name not in ACTIVATIONS:
        r.refuse(key, f"activation {name!r} has no exact blockforge equivalent; supported: "
                      f"{', '.join(sorted(ACTIVATIONS))}")
        return {"type": "gelu"}
    return dict(ACTIVATIONS[name])


def architectures(r: ConfigReader, allowed: Mapping[str, str], default: str, why: str = "") -> str:
    """The head the config's ``architectures`` asks for: one of ``allowed``'s values (by class name).

    Absent ``architectures`` means ``default``; several classes must agree; any other class is refused
    (its head would be silently replaced otherwise).
    """
    archs = r.take("architectures", None, types=(list, type(None))) or []
    heads = {allowed.get(a) for a in archs}
    if None in heads or len(heads) > 1:
        r.refuse("architectures", f"blockforge reproduces only {', '.join(sorted(allowed))} for this family; "
                 f"{why}pass architecture= (CLI: --architecture) to import {default}'s layout explicitly")
        return allowed[default]
    return heads.pop() if heads else allowed[default]


def init_std(r: ConfigReader) -> float:
    """``initializer_range`` becomes ``init_std`` (initialisation only: imported weights replace it)."""
    return float(r.take("initializer_range", 0.02, types=(float, int)))


def gpt2(r: ConfigReader) -> dict[str, Any]:
    """GPT-2: pre-norm, learned positions, fused QKV with biases, tanh-GELU MLP, LayerNorm, tied head."""
    architectures(r, {"GPT2LMHeadModel": "lm"}, "GPT2LMHeadModel")
    d = r.take("n_embd", types=int)
    heads = r.take("n_head", types=int)
    inner = r.take("n_inner", None, types=(int, type(None)))
    eps = r.take("layer_norm_epsilon", 1e-5, types=(float, int))
    r.expect("scale_attn_weights", True, "attention scores are always scaled by 1/sqrt(head_dim)")
    r.expect("scale_attn_by_inverse_layer_idx", False)
    r.expect("reorder_and_upcast_attn", False)
    r.ignore("n_ctx")  # legacy alias, superseded by n_positions
    r.ignore("summary_type", "summary_use_proj", "summary_activation", "summary_proj_to_labels",
             "summary_first_dropout")  # GPT2DoubleHeadsModel's classifier, not the LM
    norm = {"type": "layernorm", "eps": float(eps) if eps is not None else 1e-5}
    tied = r.take("tie_word_embeddings", True, types=bool)
    return {
        "type": "lm",
        "vocab_size": r.take("vocab_size", types=int),
        "d_model": d,
        "n_layers": r.take("n_layer", types=int),
        "max_len": r.take("n_positions", types=int),
        "dropout": r.take("embd_pdrop", 0.1, types=(float, int)),
        "positional": "learned",
        "block": {
            "type": "transformer",
            "norm_position": "pre",
            "norm": norm,
            "dropout": r.take("resid_pdrop", 0.1, types=(float, int)),
            "attention": {"type": "mha", "heads": heads, "causal": True, "bias": True,
                          "dropout": r.take("attn_pdrop", 0.1, types=(float, int))},
            "feedforward": {"type": "mlp", "hidden": inner if inner is not None else 4 * (d or 0),
                            "activation": activation(r, "activation_function", "gelu_new"), "bias": True},
        },
        "final_norm": dict(norm),
        "head": {"type": "lm", "bias": False, "tied": tied},
        "init_std": init_std(r),
    }


def gpt_bigcode(r: ConfigReader) -> dict[str, Any]:
    """GPT-BigCode (SantaCoder, StarCoder 1): GPT-2's pre-norm decoder with learned positions and biases,
    multi-query attention unless ``multi_query`` is false, plain ``nn.Linear`` layers, tied head."""
    r.expect("scale_attn_weights", True, "attention scores are always scaled by 1/sqrt(head_dim)")
    r.expect("add_cross_attention", False, "GPT-BigCode's cross-attention layers are not reproduced")
    # where the softmax is computed for half-precision inputs; float32/float64 results are unchanged
    r.ignore("attention_softmax_in_fp32", "scale_attention_softmax_in_fp32")
    d = r.take("n_embd", types=int)
    heads = r.take("n_head", types=int)
    inner = r.take("n_inner", types=(int, type(None)))
    norm = {"type": "layernorm", "eps": float(r.take("layer_norm_epsilon", types=(float, int)))}
    attention: dict[str, Any] = {"type": "mha", "heads": heads}
    if r.take("multi_query", types=bool):
        attention["kv_heads"] = 1
    attention.update(causal=True, bias=True, dropout=r.take("attn_pdrop", types=(float, int)))
    kind = architectures(r, {"GPTBigCodeForCausalLM": "lm", "GPTBigCodeForSequenceClassification": "classifier"},
                         "GPTBigCodeForCausalLM")
    head: dict[str, Any] = {"type": "lm", "bias": False, "tied": r.take("tie_word_embeddings", types=bool)}
    if kind == "classifier":
        head = {"type": "classifier", "classes": num_classes(r), "pooling": "last", "bias": False}
    return {
        "type": "lm",
        "vocab_size": r.take("vocab_size", types=int),
        "d_model": d,
        "n_layers": r.take("n_layer", types=int),
        "max_len": r.take("n_positions", types=int),
        "dropout": r.take("embd_pdrop", types=(float, int)),
        "positional": "learned",
        "block": {
            "type": "transformer", "norm_position": "pre", "norm": norm,
            "dropout": r.take("resid_pdrop", types=(float, int)), "attention": attention,
            "feedforward": {"type": "mlp", "hidden": inner if inner is not None else 4 * (d or 0),
                            "activation": activation(r, "activation_function", "gelu_pytorch_tanh"), "bias": True},
        },
        "final_norm": dict(norm),
        "head": head,
        "init_std": init_std(r),
    }


def gptj(r: ConfigReader) -> dict[str, Any]:
    """GPT-J: attention and MLP in parallel on one shared LayerNorm, interleaved RoPE ("rotate every two")
    on the first ``rotary_dim`` features of each head with the fixed base 10000 (transformers' GPT-J reads
    no rope settings), no attention biases, a biased MLP and a biased, untied output layer."""
    r.ignore("rope_scaling", "rope_parameters", "rope_theta")  # GPT-J's rotary table is fixed
    r.ignore("rotary")  # legacy flag; GPT-J always rotates
    d = r.take("n_embd", types=int)
    heads = r.take("n_head", types=int)
    rotary_dim = r.take("rotary_dim", types=(int, type(None)))
    head_dim = d // heads if d and heads else 0
    fraction = 1.0
    if rotary_dim is None or head_dim <= 0 or not 0 < rotary_dim <= head_dim or rotary_dim % 2:
        r.refuse("rotary_dim", f"must be an even number of features in (0, head_dim={head_dim}] "
                               "(transformers' GPT-J fails without it)")
    else:
        fraction = rotary_dim / head_dim
        if int(head_dim * fraction) // 2 * 2 != rotary_dim:
            r.refuse("rotary_dim", f"{rotary_dim} / head_dim {head_dim} is not exact in floating point")
    inner = r.take("n_inner", types=(int, type(None)))
    norm = {"type": "layernorm", "eps": float(r.take("layer_norm_epsilon", types=(float, int)))}
    positional: dict[str, Any] = {"type": "rope", "theta": 10000.0, "interleaved": True}
    if fraction != 1.0:
        positional["fraction"] = fraction
    kind = architectures(r, {"GPTJForCausalLM": "lm", "GPTJForSequenceClassification": "classifier"},
                         "GPTJForCausalLM")
    head: dict[str, Any] = {"type": "lm", "bias": True, "tied": r.take("tie_word_embeddings", types=bool)}
    if kind == "classifier":
        head = {"type": "classifier", "classes": num_classes(r), "pooling": "last", "bias": False}
    return {
        "type": "lm",
        "vocab_size": r.take("vocab_size", types=int),
        "d_model": d,
        "n_layers": r.take("n_layer", types=int),
        "max_len": r.take("n_positions", types=int),
        "dropout": r.take("embd_pdrop", types=(float, int)),
        "positional": positional,
        "block": {
            "type": "parallel", "norm": norm, "dropout": r.take("resid_pdrop", types=(float, int)),
            "attention": {"type": "mha", "heads": heads, "causal": True, "bias": False,
                          "dropout": r.take("attn_pdrop", types=(float, int))},
            "feedforward": {"type": "mlp", "hidden": inner if inner is not None else 4 * (d or 0),
                            "activation": activation(r, "activation_function", "gelu_new"), "bias": True},
        },
        "final_norm": dict(norm),
        "head": head,
        "init_std": init_std(r),
    }


ROPE_SETTINGS: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "default": ((), ()),
    "linear": (("factor",), ()),
    "dynamic": (("factor",), ()),
    "yarn": (("factor", "original_max_position_embeddings"),
             ("attention_factor", "beta_fast", "beta_slow", "mscale", "mscale_all_dim", "truncate")),
    "llama3": (("factor", "original_max_position_embeddings", "low_freq_factor", "high_freq_factor"), ()),
    "longrope": (("short_factor", "long_factor", "original_max_position_embeddings"), ("factor", "attention_factor")),
}
"""RoPE types blockforge reproduces: (required, optional) settings of each, as transformers'
``RotaryEmbeddingConfigMixin`` validates them; any other setting is not read by transformers."""

_ROPE_FIELDS = {"original_max_position_embeddings": "original_max_len", "low_freq_factor": "low_freq_factor",
                "high_freq_factor": "high_freq_factor", "beta_fast": "beta_fast", "beta_slow": "beta_slow",
                "attention_factor": "attention_factor", "mscale": "mscale", "mscale_all_dim": "mscale_all_dim",
                "truncate": "truncate", "short_factor": "short_factor", "long_factor": "long_factor"}


def rope(r: ConfigReader, *, theta: float | None = None, fraction: float = 1.0,
         kinds: Mapping[str, str] | None = None) -> dict[str, Any]:
    """RoPE from ``rope_parameters`` (transformers 5) or ``rope_theta``/``rope_scaling`` (4.x), resolved
    as transformers' ``PreTrainedConfig`` does (``rope_scaling`` wins over ``rope_parameters``; the
    theta defaults to the config class's ``default_theta``; yarn, llama3 and longrope take
    ``original_max_position_embeddings`` from the top level, else from ``max_position_embeddings``).

    ``theta`` and ``fraction`` are the family's defaults for legacy keys (GPT-NeoX's ``rotary_emb_base``
    and ``rotary_pct``); ``kinds`` renames legacy rope types as the family's config class does (Phi-3's
    ``su`` and ``yarn`` are ``longrope``). A rope type outside :data:`ROPE_SETTINGS`, or one missing a setting transformers
    requires, is one problem naming it.
    """
    params = r.take("rope_parameters", None, types=(dict, type(None))) or {}
    scaling_cfg = r.take("rope_scaling", None, types=(dict, type(None))) or {}
    legacy_theta = r.take("rope_theta", None, types=(float, int, type(None)))
    key = "rope_scaling" if scaling_cfg else "rope_parameters"
    given = scaling_cfg or params
    merged = dict(given)
    kind = merged.get("rope_type", merged.get("type", "default"))
    kind = (kinds or {}).get(kind, kind)
    default_theta = theta if theta is not None else r.policy.get("default_theta") or 10000.0
    theta_value = merged.get("rope_theta", legacy_theta if legacy_theta is not None else default_theta)
    top_fraction = r.take("partial_rotary_factor", fraction, types=(float, int))
    fraction_value = merged.get("partial_rotary_factor", top_fraction)
    if not isinstance(theta_value, (int, float)) or isinstance(theta_value, bool) or theta_value <= 1:
        r.refuse(key if given else "rope_theta", f"rope_theta must be a number > 1, got {theta_value!r}")
        theta_value = 10000.0
    out: dict[str, Any] = {"type": "rope", "theta": float(theta_value)}
    if fraction_value != 1.0:
        out["fraction"] = float(fraction_value)
    if kind not in ROPE_SETTINGS:
        r.refuse(key, f"rope type {kind!r} is not supported; supported: {', '.join(ROPE_SETTINGS)}", given)
        return out
    required, optional = ROPE_SETTINGS[kind]
    if "original_max_position_embeddings" in required:
        top = r.take("original_max_position_embeddings", None, types=(int, type(None)))
        if top is not None:  # Phi-3 keeps it at the top level, and transformers prefers it there
            merged["original_max_position_embeddings"] = top
        merged.setdefault("original_max_position_embeddings", r.config.get(
            "max_position_embeddings", r.default("max_position_embeddings", None)))
    missing = [k for k in required if merged.get(k) is None and not (kind == "longrope" and k == "factor")]
    if missing:
        r.refuse(key, f"rope type {kind!r} needs {', '.join(map(repr, missing))} (transformers refuses it too)",
                 given)
        return out
    if kind == "default":
        return out
    factor = merged.get("factor")
    if factor is None:  # longrope (Phi-3): the ratio of the two context lengths
        factor = r.config.get("max_position_embeddings", r.default("max_position_embeddings", 0)) / merged[
            "original_max_position_embeddings"]
    out["scaling"] = float(factor)
    if kind != "linear":
        out["scaling_type"] = kind
    for name in required + optional:
        if name != "factor" and merged.get(name) is not None:
            value = merged[name]
            out[_ROPE_FIELDS[name]] = [float(v) for v in value] if isinstance(value, list) else value
    return out


def decoder_head(r: ConfigReader, prefix: str) -> dict[str, Any]:
    """The head of a decoder family's ``architectures``: ``<prefix>ForCausalLM`` (an LM head, tied when
    ``tie_word_embeddings``) or ``<prefix>ForSequenceClassification`` (transformers' ``score``: no bias,
    on the last real token; transformers finds it by ``pad_token_id``, blockforge by the attention mask,
    which agree when padding is where the mask is 0 and the pad id does not occur in the text)."""
    kind = architectures(r, {f"{prefix}ForCausalLM": "lm", f"{prefix}ForSequenceClassification": "classifier"},
                         f"{prefix}ForCausalLM")
    tied = r.take("tie_word_embeddings", types=bool)
    if kind == "classifier":
        return {"type": "classifier", "classes": num_classes(r), "pooling": "last", "bias": False}
    return {"type": "lm", "bias": False, "tied": tied}


def rope_decoder(
    r: ConfigReader, *, qkv_bias: bool, out_bias: bool, mlp_bias: bool, window: int | None, prefix: str,
    qk_norm: bool = False, norm: dict[str, Any] | None = None, feedforward: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None, positional: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The Llama-style decoder shared by Llama, Mistral, Qwen2, Qwen3, Gemma and StarCoder2: pre-norm
    (RMSNorm unless ``norm`` is given), RoPE, (grouped-query) attention (Qwen3: a per-head RMSNorm on
    queries and keys), gated feed-forward (SwiGLU for ``silu``) unless ``feedforward`` is given; the
    head from :func:`decoder_head`; ``extra`` adds model-level settings (embedding scale, dropout);
    ``positional`` replaces :func:`rope`'s defaults (a family's own rotary fraction or rope types)."""
    d = r.take("hidden_size", types=int)
    heads = r.take("num_attention_heads", types=int)
    kv = r.take("num_key_value_heads", None, types=(int, type(None)))
    head_dim = r.take("head_dim", None, types=(int, type(None)))
    attention: dict[str, Any] = {"type": "mha", "heads": heads}
    if kv is not None and kv != heads:
        attention["kv_heads"] = kv
    if head_dim is not None and (d is None or heads is None or head_dim * heads != d or d % heads):
        attention["head_dim"] = head_dim
    attention.update(causal=True, bias=qkv_bias, dropout=r.take("attention_dropout", 0.0, types=(float, int)))
    if out_bias != qkv_bias:
        attention["out_bias"] = out_bias
    if window is not None:
        attention["window"] = window
    if feedforward is None:
        hidden = r.take("intermediate_size", types=int)
        act = activation(r, "hidden_act", "silu")
        feedforward = (
            {"type": "swiglu", "hidden": hidden, "bias": mlp_bias}
            if act == {"type": "silu"}
            else {"type": "glu", "hidden": hidden, "activation": act, "bias": mlp_bias}
        )
    if norm is None:
        norm = {"type": "rmsnorm", "eps": float(r.take("rms_norm_eps", types=(float, int)))}
    if qk_norm:
        attention["qk_norm"] = dict(norm)
    return {
        "type": "lm",
        "vocab_size": r.take("vocab_size", types=int),
        "d_model": d,
        "n_layers": r.take("num_hidden_layers", types=int),
        "max_len": r.take("max_position_embeddings", types=int),
        **(extra or {}),
        "positional": positional if positional is not None else rope(r),
        "block": {"type": "transformer", "norm_position": "pre", "norm": norm, "attention": attention,
                  "feedforward": feedforward, **({"dropout": extra["dropout"]} if extra and "dropout" in extra else {})},
        "final_norm": dict(norm),
        "head": decoder_head(r, prefix),
        "init_std": init_std(r),
    }


def gemma(r: ConfigReader) -> dict[str, Any]:
    """Gemma (1): Llama with ``(1 + w)`` RMSNorms, embeddings scaled by ``sqrt(hidden_size)``, GeGLU
    (``hidden_act``, the tanh GELU), head_dim 256 by default, tied head."""
    r.expect("use_bidirectional_attention", (None, False), "the imported decoder is causal")
    r.ignore("hidden_activation")  # legacy key of published configs; transformers 5's Gemma reads hidden_act
    act = activation(r, "hidden_act", "gelu_pytorch_tanh")
    if r.config.get("hidden_act") == "gelu":  # GemmaConfig.__post_init__: the releases' "gelu" means tanh
        act = {"type": "gelu", "approximate": "tanh"}
    hidden = r.take("intermediate_size", types=int)
    ff = ({"type": "geglu", "hidden": hidden, "approximate": act.get("approximate", "none")}
          if act.get("type") == "gelu" else {"type": "glu", "hidden": hidden, "activation": act, "bias": False})
    norm = {"type": "rmsnorm", "eps": float(r.take("rms_norm_eps", types=(float, int))), "unit_offset": True}
    bias = r.take("attention_bias", types=bool)
    return rope_decoder(r, qkv_bias=bias, out_bias=bias, mlp_bias=False, window=None, prefix="Gemma", norm=norm,
                        feedforward=ff, extra={"embedding": {"type": "token", "scale": "sqrt_d_model"}})


def starcoder2(r: ConfigReader) -> dict[str, Any]:
    """StarCoder2: pre-LayerNorm (with biases), RoPE, grouped-query attention with biases (``use_bias``),
    a plain GELU MLP (``c_fc``, ``c_proj``), an optional sliding window on every layer, tied head."""
    bias = r.take("use_bias", types=bool)
    norm = {"type": "layernorm", "eps": float(r.take("norm_epsilon", types=(float, int)))}
    ff = {"type": "mlp", "hidden": r.take("intermediate_size", types=int),
          "activation": activation(r, "hidden_act", "gelu_pytorch_tanh"), "bias": bias}
    window = r.take("sliding_window", types=(int, type(None)))
    extra = {"dropout": r.take("embedding_dropout", types=(float, int))}
    model = rope_decoder(r, qkv_bias=bias, out_bias=bias, mlp_bias=bias, window=window, prefix="Starcoder2",
                         norm=norm, feedforward=ff, extra=extra)
    model["block"]["dropout"] = r.take("residual_dropout", types=(float, int))
    return model


def full_attention_layers(r: ConfigReader) -> None:
    """Require every entry of ``layer_types`` (when present) to be full attention."""
    types = r.take("layer_types", None, types=(list, type(None)))
    if types and any(t != "full_attention" for t in types):
        r.refuse("layer_types", "per-layer attention types other than 'full_attention' are not supported here")


def llama(r: ConfigReader) -> dict[str, Any]:
    """Llama: no biases unless ``attention_bias`` / ``mlp_bias``."""
    bias = r.take("attention_bias", False, types=bool)
    full_attention_layers(r)
    return rope_decoder(r, qkv_bias=bias, out_bias=bias, mlp_bias=r.take("mlp_bias", False, types=bool),
                        window=None, prefix="Llama")


def mistral(r: ConfigReader) -> dict[str, Any]:
    """Mistral: Llama with grouped-query attention and a sliding window on every layer."""
    window = r.take("sliding_window", None, types=(int, type(None)))
    full_attention_layers(r)
    return rope_decoder(r, qkv_bias=False, out_bias=False, mlp_bias=False, window=window, prefix="Mistral")


def qwen2(r: ConfigReader) -> dict[str, Any]:
    """Qwen2: Llama with biases on the q/k/v projections (none on the output projection)."""
    r.expect("use_sliding_window", False, "Qwen2's per-layer sliding window is not supported")
    r.ignore("sliding_window", "max_window_layers")  # unused while use_sliding_window is False
    full_attention_layers(r)
    return rope_decoder(r, qkv_bias=True, out_bias=False, mlp_bias=False, window=None, prefix="Qwen2")


def qwen3(r: ConfigReader) -> dict[str, Any]:
    """Qwen3: Llama with a per-head RMSNorm on queries and keys (before the rotation), biases on the
    attention projections only when ``attention_bias``."""
    r.expect("use_sliding_window", False, "Qwen3's per-layer sliding window is not supported")
    r.ignore("sliding_window", "max_window_layers")  # unused while use_sliding_window is False
    full_attention_layers(r)
    bias = r.take("attention_bias", types=bool)
    return rope_decoder(r, qkv_bias=bias, out_bias=bias, mlp_bias=False, window=None, prefix="Qwen3", qk_norm=True)


def mixtral(r: ConfigReader) -> dict[str, Any]:
    """Mixtral: Mistral with a top-k routed mixture of SwiGLU experts in every layer (top-k softmax
    probabilities renormalised), an optional sliding window."""
    r.expect("router_jitter_noise", (0, 0.0), "router jitter is training noise blockforge does not add")
    r.ignore("output_router_logits", "router_aux_loss_coef")  # outputs and loss weighting only
    window = r.take("sliding_window", types=(int, type(None)))
    ff = {"type": "moe", "experts": r.take("num_local_experts", types=int), "top_k": r.take(
        "num_experts_per_tok", types=int), "hidden": r.take("intermediate_size", types=int), "expert": "glu",
        "activation": activation(r, "hidden_act", "silu"), "bias": False}
    full_attention_layers(r)
    return rope_decoder(r, qkv_bias=False, out_bias=False, mlp_bias=False, window=window, prefix="Mixtral",
                        feedforward=ff)


def qwen3_moe(r: ConfigReader) -> dict[str, Any]:
    """Qwen3-MoE: Qwen3 (per-head QK-norm) with a routed mixture of SwiGLU experts in every layer
    (``moe_intermediate_size`` wide; top-k probabilities renormalised only when ``norm_topk_prob``)."""
    r.expect("use_sliding_window", False, "Qwen3-MoE's per-layer sliding window is not supported")
    r.ignore("sliding_window", "max_window_layers")  # unused while use_sliding_window is False
    r.expect("decoder_sparse_step", 1, "every layer sparse is the only layout supported")
    r.expect("mlp_only_layers", ([], None), "dense layers between sparse ones are not supported")
    r.ignore("intermediate_size")  # the dense MLP of mlp_only_layers, of which there are none
    r.expect("router_jitter_noise", (0, 0.0), "router jitter is training noise blockforge does not add")
    r.ignore("output_router_logits", "router_aux_loss_coef")
    full_attention_layers(r)
    bias = r.take("attention_bias", types=bool)
    ff = {"type": "moe", "experts": r.take("num_local_experts", types=int), "top_k": r.take(
        "num_experts_per_tok", types=int), "hidden": r.take("moe_intermediate_size", types=int), "expert": "glu",
        "activation": activation(r, "hidden_act", "silu"), "bias": False,
        "normalize": r.take("norm_topk_prob", types=bool)}
    return rope_decoder(r, qkv_bias=bias, out_bias=bias, mlp_bias=False, window=None, prefix="Qwen3Moe",
                        qk_norm=True, feedforward=ff)


def phi3(r: ConfigReader) -> dict[str, Any]:
    """Phi-3 / 3.5 / Phi-4-mini: Llama with fused ``qkv_proj`` and ``gate_up_proj`` (a layout difference
    only), partial rotary (``partial_rotary_factor``), LongRoPE (legacy ``su``/``yarn`` read as
    ``longrope``, as ``Phi3Config`` does; other rope types are refused, as there), an optional sliding
    window on every layer, residual dropout ``resid_pdrop`` (transformers 5 never reads ``embd_pdrop``)."""
    window = r.take("sliding_window", types=(int, type(None)))
    positional = rope(r, kinds={"su": "longrope", "yarn": "longrope"})
    r.ignore("original_max_position_embeddings")  # read by LongRoPE only (taken above when it applies)
    kind = positional.get("scaling_type", "linear" if "scaling" in positional else "default")
    if kind not in ("default", "longrope"):
        r.refuse("rope_scaling" if r.has("rope_scaling") else "rope_parameters",
                 f"Phi-3 takes rope type 'default' or 'longrope' (Phi3Config refuses {kind!r})")
    model = rope_decoder(r, qkv_bias=False, out_bias=False, mlp_bias=False, window=window, prefix="Phi3",
                         positional=positional)
    model["block"]["dropout"] = r.take("resid_pdrop", types=(float, int))
    return model


def olmo2(r: ConfigReader) -> dict[str, Any]:
    """OLMo 2: RMSNorms on each sublayer's output only (``norm_position: output``; none before), QK-norm
    over the whole query and key projections (``qk_norm_scope: all``), SwiGLU, biases on the attention
    projections only when ``attention_bias``."""
    full_attention_layers(r)
    bias = r.take("attention_bias", types=bool)
    model = rope_decoder(r, qkv_bias=bias, out_bias=bias, mlp_bias=False, window=None, prefix="Olmo2",
                         qk_norm=True)
    model["block"]["norm_position"] = "output"
    model["block"]["attention"]["qk_norm_scope"] = "all"
    return model


def stablelm(r: ConfigReader) -> dict[str, Any]:
    """StableLM (1.6B, 3B): LayerNorms with biases, partial rotary (``partial_rotary_factor``, 0.25 when
    absent as in ``StableLmConfig``), q/k/v biases when ``use_qkv_bias``, SwiGLU; sequential pre-norm
    blocks, or attention and MLP in parallel on one shared norm (``use_parallel_residual``)."""
    r.expect("qk_layernorm", False, "StableLM's per-head LayerNorms (separate weights per head) are not supported")
    r.expect("hidden_dropout", (0, 0.0), "StableLM drops out only the MLP output, which blockforge does not reproduce")
    norm = {"type": "layernorm", "eps": float(r.take("layer_norm_eps", types=(float, int)))}
    model = rope_decoder(r, qkv_bias=r.take("use_qkv_bias", types=bool), out_bias=False, mlp_bias=False,
                         window=None, prefix="StableLm", norm=norm, positional=rope(r, fraction=0.25))
    if r.take("use_parallel_residual", types=bool):
        block = model["block"]
        model["block"] = {"type": "parallel", "norm": block["norm"], "attention": block["attention"],
                          "feedforward": block["feedforward"]}
    return model


def qwen2_moe(r: ConfigReader) -> dict[str, Any]:
    """Qwen2-MoE (Qwen1.5-MoE, Qwen2-57B-A14B): Qwen2's attention (q/k/v biases when ``qkv_bias``) with a
    routed mixture of SwiGLU experts in every layer (top-k probabilities renormalised only when
    ``norm_topk_prob``) plus a shared SwiGLU expert gated per token by a sigmoid."""
    r.expect("use_sliding_window", False, "Qwen2-MoE's per-layer sliding window is not supported")
    r.ignore("sliding_window", "max_window_layers")  # unused while use_sliding_window is False
    r.expect("decoder_sparse_step", 1, "every layer sparse is the only layout supported")
    r.expect("mlp_only_layers", ([], None), "dense layers between sparse ones are not supported")
    r.ignore("intermediate_size")  # the dense MLP of mlp_only_layers, of which there are none
    r.ignore("output_router_logits", "router_aux_loss_coef")  # outputs and loss weighting only
    full_attention_layers(r)
    ff = {"type": "moe", "experts": r.take("num_experts", types=int), "top_k": r.take(
        "num_experts_per_tok", types=int), "hidden": r.take("moe_intermediate_size", types=int), "expert": "glu",
        "activation": activation(r, "hidden_act", "silu"), "bias": False,
        "normalize": r.take("norm_topk_prob", types=bool),
        "shared_hidden": r.take("shared_expert_intermediate_size", types=int), "shared_gate": True}
    return rope_decoder(r, qkv_bias=r.take("qkv_bias", types=bool), out_bias=False, mlp_bias=False, window=None,
                        prefix="Qwen2Moe", feedforward=ff)


BERT_HEADS = {"BertModel": "hidden", "BertForSequenceClassification": "classifier", "BertForMaskedLM": "masked_lm"}
"""BERT architectures blockforge reproduces, and the head each becomes."""


def num_classes(r: ConfigReader) -> int:
    """The classifier's outputs, as ``PreTrainedConfig`` decides: ``num_labels``, else the size of
    ``id2label``, else 2."""
    id2label = r.take("id2label", None, types=(dict, type(None)))
    num_labels = r.take("num_labels", None, types=(int, type(None)))
    return num_labels or (len(id2label) if id2label else 2)


def bert(r: ConfigReader) -> dict[str, Any]:
    """BERT encoder: post-norm, learned positions plus token types, LayerNorm on the embeddings.

    The head follows ``architectures``: ``BertModel`` (or none given) returns the last hidden states
    (the pooler's output is not reproduced; its weights are skipped on load),
    ``BertForSequenceClassification`` becomes a ``classifier`` head (CLS token, tanh pooler), and
    ``BertForMaskedLM`` a ``masked_lm`` head (dense + activation + LayerNorm, decoder tied to the word
    embeddings unless ``tie_word_embeddings`` is false).
    """
    kind = architectures(r, BERT_HEADS, "BertModel")
    r.expect("is_decoder", False, "BERT as a decoder needs causal attention and a cache")
    tied = r.take("tie_word_embeddings", types=bool)
    d = r.take("hidden_size", types=int)
    eps = float(r.take("layer_norm_eps", types=(float, int)))
    norm = {"type": "layernorm", "eps": eps}
    act = activation(r, "hidden_act", "gelu")
    dropout = r.take("hidden_dropout_prob", types=(float, int))
    classifier_dropout = r.take("classifier_dropout", types=(float, int, type(None)))
    head: dict[str, Any] = {"type": "hidden"}
    if kind == "classifier":
        head = {"type": "classifier", "classes": num_classes(r), "pooling": "cls", "pooler": "tanh",
                "dropout": classifier_dropout if classifier_dropout is not None else dropout}
    elif kind == "masked_lm":
        head = {"type": "masked_lm", "activation": dict(act), "norm": dict(norm), "tied": tied}
    return {
        "type": "encoder",
        "vocab_size": r.take("vocab_size", types=int),
        "d_model": d,
        "n_layers": r.take("num_hidden_layers", types=int),
        "max_len": r.take("max_position_embeddings", types=int),
        "embedding": {"type": "token", "token_types": r.take("type_vocab_size", 2, types=int)},
        "positional": "learned",
        "embedding_norm": dict(norm),
        "dropout": dropout,
        "block": {
            "type": "transformer",
            "norm_position": "post",
            "norm": norm,
            "dropout": dropout,
            "attention": {"type": "mha", "heads": r.take("num_attention_heads", types=int), "bias": True,
                          "dropout": r.take("attention_probs_dropout_prob", 0.1, types=(float, int))},
            "feedforward": {"type": "mlp", "hidden": r.take("intermediate_size", types=int),
                            "activation": act, "bias": True},
        },
        "head": head,
        "init_std": init_std(r),
    }


def layer_plan(r: ConfigReader, n_layers: int | None, window: int | None) -> dict[str, Any] | None:
    """Gemma 2's per-layer attention types as a layer plan: ``sliding_attention`` layers get
    ``window``, ``full_attention`` layers none; the pattern is the shortest period of ``layer_types``.

    Returns:
        ``{"variants", "pattern"}``; or None when the types are missing or refused (recorded).
    """
    default = [("sliding_attention" if (i + 1) % 2 else "full_attention") for i in range(n_layers or 0)]
    types = r.take("layer_types", None, types=(list, type(None)))
    types = default if types is None else types
    names = {"sliding_attention": "local", "full_attention": "global"}
    if any(t not in names for t in types):
        r.refuse("layer_types", "supported layer types: 'sliding_attention', 'full_attention'")
        return None
    if n_layers is not None and len(types) != n_layers:
        r.refuse("layer_types", f"needs one entry per layer (num_hidden_layers={n_layers}), got {len(types)}")
        return None
    if "sliding_attention" in types and window is None:
        r.refuse("sliding_window", "sliding_attention layers need an integer sliding_window")
        return None
    period = next(p for p in range(1, len(types) + 1)
                  if all(types[i] == types[i % p] for i in range(len(types)))) if types else 1
    return {"variants": {"local": {"attention": {"window": window}}, "global": {}},
            "pattern": [names[t] for t in types[:period]]}


def gemma2(r: ConfigReader) -> dict[str, Any]:
    """Gemma 2: sandwich ``(1 + w)`` RMSNorms, embeddings scaled by ``sqrt(hidden_size)``, attention scale
    ``query_pre_attn_scalar ** -0.5``, attention and final logit soft-caps, GeGLU, alternating sliding
    and full attention layers (``layer_types``), tied head.

    Defaults are those of transformers' ``Gemma2Config`` (``save_pretrained`` leaves out keys equal to
    them).
    """
    architectures(r, {"Gemma2ForCausalLM": "lm"}, "Gemma2ForCausalLM")
    r.expect("use_bidirectional_attention", (None, False), "the imported decoder is causal")
    # legacy keys of published configs that transformers' Gemma 2 never reads (it reads
    # hidden_activation and sliding_window); and the generation cache layout
    r.ignore("hidden_act", "sliding_window_size", "cache_implementation")
    d = r.take("hidden_size", 2304, types=int)
    heads = r.take("num_attention_heads", 8, types=int)
    kv = r.take("num_key_value_heads", 4, types=int)
    n_layers = r.take("num_hidden_layers", 26, types=int)
    bias = r.take("attention_bias", False, types=bool)
    scalar = r.take("query_pre_attn_scalar", 256, types=(int, float))
    if scalar is not None and scalar <= 0:
        r.refuse("query_pre_attn_scalar", "must be positive (the attention scale is its inverse square root)")
        scalar = 1
    attention: dict[str, Any] = {"type": "mha", "heads": heads}
    if kv != heads:
        attention["kv_heads"] = kv
    attention.update(head_dim=r.take("head_dim", 256, types=int), bias=bias, causal=True,
                     dropout=r.take("attention_dropout", 0.0, types=(float, int)),
                     scale=float(scalar) ** -0.5)
    attn_cap = r.take("attn_logit_softcapping", 50.0, types=(float, int, type(None)))
    if attn_cap is not None:
        attention["softcap"] = float(attn_cap)
    window = r.take("sliding_window", 4096, types=(int, type(None)))
    plan = layer_plan(r, n_layers, window)
    act = activation(r, "hidden_activation", "gelu_pytorch_tanh")
    hidden = r.take("intermediate_size", 9216, types=int)
    ff: dict[str, Any] = (
        {"type": "geglu", "hidden": hidden, "approximate": act.get("approximate", "none")}
        if act.get("type") == "gelu"
        else {"type": "glu", "hidden": hidden, "activation": act, "bias": False}
    )
    eps = float(r.take("rms_norm_eps", 1e-6, types=(float, int)))
    norm = {"type": "rmsnorm", "eps": eps, "unit_offset": True}
    head: dict[str, Any] = {"type": "lm", "tied": r.take("tie_word_embeddings", True, types=bool)}
    final_cap = r.take("final_logit_softcapping", 30.0, types=(float, int, type(None)))
    if final_cap is not None:
        head["softcap"] = float(final_cap)
    block = {"type": "transformer", "norm_position": "sandwich", "norm": norm, "attention": attention,
             "feedforward": ff}
    model: dict[str, Any] = {
        "type": "lm",
        "vocab_size": r.take("vocab_size", 256000, types=int),
        "d_model": d,
        "n_layers": n_layers,
        "max_len": r.take("max_position_embeddings", 8192, types=int),
        "embedding": {"type": "token", "scale": "sqrt_d_model"},
        "positional": rope(r),
        "block": block,
        "final_norm": dict(norm),
        "head": head,
        "init_std": init_std(r),
    }
    if plan is not None and plan["pattern"] == ["local"]:  # every layer slides: no plan needed
        attention["window"] = window
    elif plan is not None and plan["pattern"] != ["global"]:
        model["plan"] = plan
    return model


def gpt_neox(r: ConfigReader) -> dict[str, Any]:
    """GPT-NeoX (Pythia): LayerNorm with biases, partial rotary (``rotary_pct``), a fused per-head
    ``query_key_value`` with biases, a GELU MLP, and parallel attention + MLP residuals
    (``use_parallel_residual``; false gives a sequential pre-norm block). The output layer is untied
    unless ``tie_word_embeddings``. Defaults are those of transformers' ``GPTNeoXConfig``.
    """
    architectures(r, {"GPTNeoXForCausalLM": "lm"}, "GPTNeoXForCausalLM")
    r.ignore("is_decoder")  # not read by GPT-NeoX, which is always a causal decoder
    r.ignore("classifier_dropout")  # the sequence/token classification heads only
    d = r.take("hidden_size", 6144, types=int)
    heads = r.take("num_attention_heads", 64, types=int)
    positional = rope(r, theta=float(r.take("rotary_emb_base", 10000.0, types=(float, int))),
                      fraction=float(r.take("rotary_pct", 0.25, types=(float, int))))
    head_dim = d // heads if d and heads else 0
    if int(head_dim * positional.get("fraction", 1.0)) % 2:
        r.refuse("rope_parameters" if r.has("rope_parameters") else "rotary_pct",
                 f"int(head_dim={head_dim} * partial_rotary_factor) must be even (rotary features pair up)")
    norm = {"type": "layernorm", "eps": float(r.take("layer_norm_eps", 1e-5, types=(float, int)))}
    dropout = r.take("hidden_dropout", 0.0, types=(float, int))
    attention = {"type": "mha", "heads": heads, "causal": True,
                 "bias": r.take("attention_bias", True, types=bool),
                 "dropout": r.take("attention_dropout", 0.0, types=(float, int))}
    ff = {"type": "mlp", "hidden": r.take("intermediate_size", 24576, types=int),
          "activation": activation(r, "hidden_act", "gelu"), "bias": True}
    if r.take("use_parallel_residual", True, types=bool):
        block = {"type": "parallel", "norm": norm, "ff_norm": dict(norm), "attention": attention,
                 "feedforward": ff, "dropout": dropout}
    else:
        block = {"type": "transformer", "norm_position": "pre", "norm": norm, "attention": attention,
                 "feedforward": ff, "dropout": dropout}
    return {
        "type": "lm",
        "vocab_size": r.take("vocab_size", 50432, types=int),
        "d_model": d,
        "n_layers": r.take("num_hidden_layers", 44, types=int),
        "max_len": r.take("max_position_embeddings", 2048, types=int),
        "dropout": dropout,
        "positional": positional,
        "block": block,
        "final_norm": dict(norm),
        "head": {"type": "lm", "bias": False, "tied": r.take("tie_word_embeddings", False, types=bool)},
        "init_std": init_std(r),
    }


Converter = Callable[[ConfigReader], dict[str, Any]]
CONVERTERS: Mapping[str, Converter] = {
    "gpt2": gpt2, "llama": llama, "mistral": mistral, "qwen2": qwen2, "qwen3": qwen3, "bert": bert, "gemma": gemma, "gemma2": gemma2,
    "starcoder2": starcoder2, "mixtral": mixtral, "qwen3_moe": qwen3_moe,
    "gpt_neox": gpt_neox, "phi3": phi3, "stablelm": stablelm, "olmo2": olmo2, "gpt_bigcode": gpt_bigcode, "gptj": gptj, "qwen2_moe": qwen2_moe,
}
"""Config converters by transformers ``model_type``."""


def _decoder(prefix: str) -> tuple[str, ...]:
    return (f"{prefix}ForCausalLM", f"{prefix}ForSequenceClassification")


ARCHITECTURES: Mapping[str, tuple[str, ...]] = {
    "bert": tuple(BERT_HEADS), "gemma": _decoder("Gemma"), "gemma2": ("Gemma2ForCausalLM",),
    "gpt2": ("GPT2LMHeadModel",), "gpt_neox": ("GPTNeoXForCausalLM",), "llama": _decoder("Llama"),
    "mistral": _decoder("Mistral"), "qwen2": _decoder("Qwen2"), "qwen3": _decoder("Qwen3"),
    "starcoder2": _decoder("Starcoder2"), "mixtral": _decoder("Mixtral"), "qwen3_moe": _decoder("Qwen3Moe"),
    "phi3": _decoder("Phi3"), "stablelm": _decoder("StableLm"), "olmo2": _decoder("Olmo2"),
    "gpt_bigcode": _decoder("GPTBigCode"), "gptj": _decoder("GPTJ"),
    "qwen2_moe": _decoder("Qwen2Moe"),
}
"""The transformers classes each family's converter reproduces (``blockforge import-hf --list``)."""
