"""Hugging Face ``config.json`` -> blockforge spec, one converter per model family.

Torch-free and transformers-free: a config is plain JSON. Every key of the config is accounted for:
it is either converted, checked against the one value blockforge reproduces exactly, or known to have
no effect on the forward pass (generation settings, token ids, labels, ...). Anything else is an
error that names the key, so an import never yields a silently different model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blockforge.errors import BlockforgeError

GENERIC_IGNORED = frozenset(
    {
        # bookkeeping
        "_name_or_path", "transformers_version", "model_type", "_commit_hash",
        "torch_dtype", "dtype", "use_bfloat16", "torchscript", "tf_legacy_loss",
        "_attn_implementation", "_attn_implementation_autoset", "attn_implementation",
        "_experts_implementation", "gradient_checkpointing", "transformers.js_config",
        # outputs and caching
        "return_dict", "output_hidden_states", "output_attentions", "use_cache", "output_scores",
        "return_dict_in_generate",
        # tasks, labels, tokenizer
        "finetuning_task", "id2label", "label2id", "num_labels", "problem_type", "tokenizer_class",
        "prefix", "task_specific_params",
        # token ids (used by generation and padding_idx, which only affects gradients/initialisation)
        "bos_token_id", "eos_token_id", "pad_token_id", "sep_token_id", "decoder_start_token_id",
        "forced_bos_token_id", "forced_eos_token_id",
        # generation settings
        "max_length", "min_length", "do_sample", "early_stopping", "num_beams", "num_beam_groups",
        "diversity_penalty", "temperature", "top_k", "top_p", "typical_p", "repetition_penalty",
        "length_penalty", "no_repeat_ngram_size", "encoder_no_repeat_ngram_size", "bad_words_ids",
        "num_return_sequences", "remove_invalid_values", "exponential_decay_length_penalty",
        "suppress_tokens", "begin_suppress_tokens", "epsilon_cutoff", "eta_cutoff", "guidance_scale",
        "max_new_tokens", "min_new_tokens", "renormalize_logits", "sequence_bias", "low_memory",
        "forced_decoder_ids", "constraints", "penalty_alpha", "top_a", "output_logits",
        # chunked feed-forward computes the same values
        "chunk_size_feed_forward",
    }
)
"""Config keys every family ignores: they do not change what the model computes."""

GENERIC_EXPECTED: Mapping[str, Any] = {
    "is_encoder_decoder": False,
    "add_cross_attention": False,
    "tie_encoder_decoder": False,
    "cross_attention_hidden_size": None,
    "pruned_heads": {},
}
"""Config keys whose value must be exactly this (other values change the architecture)."""


class InteropError(BlockforgeError, ValueError):
    """A transformers config or state dict cannot be converted exactly."""


@dataclass(frozen=True)
class ConfigProblem:
    """One key of a config that blockforge cannot reproduce.

    Attributes:
        key: the config key.
        value: its value in the config.
        message: why it is refused and what would be accepted.
    """

    key: str
    value: Any
    message: str

    def __str__(self) -> str:
        return f"{self.key} = {self.value!r}: {self.message}"


class UnsupportedConfigError(InteropError):
    """Some keys of a config have no exact blockforge equivalent.

    Attributes:
        family: the config's ``model_type``.
        problems: every refused key, with its value and the reason.
        source: where the config came from (a path or ``<config>``).
    """

    def __init__(self, family: str, problems: list[ConfigProblem], source: str = "<config>") -> None:
        self.family, self.problems, self.source = family, problems, source
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"{source}: cannot import this {family} config exactly ({len(problems)} problem"
            f"{'s' if len(problems) != 1 else ''}):\n{lines}"
        )


class ConfigReader:
    """Reads a config dict key by key and remembers what it did not account for.

    Converters call :meth:`take`, :meth:`expect` and :meth:`ignore`; :meth:`finish` raises one
    :class:`UnsupportedConfigError` listing every unknown key and every refused value.
    """

    def __init__(self, config: Mapping[str, Any], family: str) -> None:
        self.config = dict(config)
        self.family = family
        self.seen: set[str] = set()
        self.problems: list[ConfigProblem] = []

    def has(self, key: str) -> bool:
        return key in self.config

    def take(self, key: str, default: Any = ..., *, types: type | tuple[type, ...] | None = None) -> Any:
        """The value of ``key`` (or ``default`` when absent; required when no default is given)."""
        self.seen.add(key)
        if key not in self.config:
            if default is ...:
                self.problems.append(ConfigProblem(key, None, "required key is missing"))
            return None if default is ... else default
        value = self.config[key]
        allowed = types if isinstance(types, tuple) else (types,)
        # bool is an int subclass: accept True/False only where bool itself is allowed
        if types is not None and (not isinstance(value, allowed) or isinstance(value, bool) and bool not in allowed):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in allowed)
            self.problems.append(ConfigProblem(key, value, f"expected {names}"))
            return None if default is ... else default
        return value

    def expect(self, key: str, allowed: Any, why: str = "") -> None:
        """Require ``key`` (when present) to equal ``allowed`` (or be one of a tuple of values)."""
        self.seen.add(key)
        if key not in self.config:
            return
        value = self.config[key]
        options = allowed if isinstance(allowed, tuple) else (allowed,)
        if value not in options:
            shown = " or ".join(repr(o) for o in options)
            self.problems.append(
                ConfigProblem(key, value, f"blockforge reproduces only {shown}{'; ' + why if why else ''}")
            )

    def refuse(self, key: str, message: str) -> None:
        """Record a problem with ``key`` found by the converter itself."""
        self.seen.add(key)
        self.problems.append(ConfigProblem(key, self.config.get(key), message))

    def ignore(self, *keys: str) -> None:
        """Mark keys that do not affect the forward pass of this family."""
        self.seen.update(keys)

    def finish(self, source: str) -> None:
        """Raise for unknown keys and refused values.

        Raises:
            UnsupportedConfigError: listing every problem.
        """
        for key, value in GENERIC_EXPECTED.items():
            if key not in self.seen:
                self.expect(key, value)
        self.seen.update(GENERIC_IGNORED)
        for key in self.config:
            if key not in self.seen:
                self.problems.append(
                    ConfigProblem(key, self.config[key], "unknown key for this family; blockforge does not "
                                  "know whether it changes the model, so it refuses to guess")
                )
        if self.problems:
            raise UnsupportedConfigError(self.family, self.problems, source)


Converter = Callable[[ConfigReader], dict[str, Any]]
CONVERTERS: dict[str, Converter] = {}
"""Config converters by ``model_type``; filled by :func:`converter`."""


def converter(*model_types: str) -> Callable[[Converter], Converter]:
    """Declare a converter for one or more ``model_type`` values (explicit table, no scanning)."""

    def deco(fn: Converter) -> Converter:
        for t in model_types:
            CONVERTERS[t] = fn
        return fn

    return deco


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


@converter("gpt2")
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


def rope(r: ConfigReader) -> dict[str, Any]:
    """RoPE from ``rope_parameters`` (transformers 5) or ``rope_theta``/``rope_scaling`` (4.x).

    Only the ``default`` and ``linear`` rope types are exact in blockforge; others are refused.
    """
    params = r.take("rope_parameters", None, types=(dict, type(None))) or {}
    legacy_theta = r.take("rope_theta", None, types=(float, int, type(None)))
    scaling_cfg = r.take("rope_scaling", None, types=(dict, type(None))) or {}
    merged = {**scaling_cfg, **params}
    kind = merged.get("rope_type", merged.get("type", "default"))
    theta = merged.get("rope_theta", legacy_theta if legacy_theta is not None else 10000.0)
    fraction = merged.get("partial_rotary_factor", r.take("partial_rotary_factor", 1.0, types=(float, int)))
    out: dict[str, Any] = {"type": "rope", "theta": float(theta)}
    if fraction != 1.0:
        out["fraction"] = float(fraction)
    known = {"rope_type", "type", "rope_theta", "partial_rotary_factor"}
    if kind == "linear":
        out["scaling"] = float(merged.get("factor", 1.0))
        known.add("factor")
    elif kind != "default":
        r.refuse("rope_parameters" if params else "rope_scaling",
                 f"rope type {kind!r} has no exact blockforge equivalent; supported: 'default', 'linear'")
    for key in sorted(set(merged) - known):
        r.refuse("rope_parameters" if key in params else "rope_scaling", f"unknown rope setting {key!r}")
    return out


def rope_decoder(
    r: ConfigReader, *, qkv_bias: bool, out_bias: bool, mlp_bias: bool, window: int | None
) -> dict[str, Any]:
    """The Llama-style decoder shared by Llama, Mistral and Qwen2: pre-RMSNorm, RoPE, (grouped-query)
    attention, gated feed-forward (SwiGLU for ``silu``)."""
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
    hidden = r.take("intermediate_size", types=int)
    act = activation(r, "hidden_act", "silu")
    ff: dict[str, Any] = (
        {"type": "swiglu", "hidden": hidden, "bias": mlp_bias}
        if act == {"type": "silu"}
        else {"type": "glu", "hidden": hidden, "activation": act, "bias": mlp_bias}
    )
    norm = {"type": "rmsnorm", "eps": float(r.take("rms_norm_eps", 1e-6, types=(float, int)))}
    return {
        "type": "lm",
        "vocab_size": r.take("vocab_size", types=int),
        "d_model": d,
        "n_layers": r.take("num_hidden_layers", types=int),
        "max_len": r.take("max_position_embeddings", types=int),
        "positional": rope(r),
        "block": {"type": "transformer", "norm_position": "pre", "norm": norm, "attention": attention,
                  "feedforward": ff},
        "final_norm": dict(norm),
        "head": {"type": "lm", "bias": False, "tied": r.take("tie_word_embeddings", False, types=bool)},
        "init_std": init_std(r),
    }


def full_attention_layers(r: ConfigReader) -> None:
    """Require every entry of ``layer_types`` (when present) to be full attention."""
    types = r.take("layer_types", None, types=(list, type(None)))
    if types and any(t != "full_attention" for t in types):
        r.refuse("layer_types", "per-layer attention types other than 'full_attention' are not supported here")


@converter("llama")
def llama(r: ConfigReader) -> dict[str, Any]:
    """Llama: no biases unless ``attention_bias`` / ``mlp_bias``."""
    architectures(r, {"LlamaForCausalLM": "lm"}, "LlamaForCausalLM")
    r.expect("pretraining_tp", 1, "tensor-parallel slicing of the projections changes the rounding")
    bias = r.take("attention_bias", False, types=bool)
    full_attention_layers(r)
    return rope_decoder(r, qkv_bias=bias, out_bias=bias, mlp_bias=r.take("mlp_bias", False, types=bool),
                        window=None)


@converter("mistral")
def mistral(r: ConfigReader) -> dict[str, Any]:
    """Mistral: Llama with grouped-query attention and a sliding window on every layer."""
    architectures(r, {"MistralForCausalLM": "lm"}, "MistralForCausalLM")
    window = r.take("sliding_window", None, types=(int, type(None)))
    full_attention_layers(r)
    return rope_decoder(r, qkv_bias=False, out_bias=False, mlp_bias=False, window=window)


@converter("qwen2")
def qwen2(r: ConfigReader) -> dict[str, Any]:
    """Qwen2: Llama with biases on the q/k/v projections (none on the output projection)."""
    architectures(r, {"Qwen2ForCausalLM": "lm"}, "Qwen2ForCausalLM")
    r.expect("use_sliding_window", False, "Qwen2's per-layer sliding window is not supported")
    r.ignore("sliding_window", "max_window_layers")  # unused while use_sliding_window is False
    full_attention_layers(r)
    return rope_decoder(r, qkv_bias=True, out_bias=False, mlp_bias=False, window=None)


BERT_HEADS = {"BertModel": "hidden", "BertForSequenceClassification": "classifier"}
"""BERT architectures blockforge reproduces, and the head each becomes."""


@converter("bert")
def bert(r: ConfigReader) -> dict[str, Any]:
    """BERT encoder: post-norm, learned positions plus token types, LayerNorm on the embeddings.

    The head follows ``architectures``: ``BertModel`` (or none given) returns the last hidden states
    (the pooler's output is not reproduced; its weights are skipped on load), and
    ``BertForSequenceClassification`` becomes a ``classifier`` head (CLS token, tanh pooler).
    """
    kind = architectures(r, BERT_HEADS, "BertModel", why="the masked-LM head's dense+GELU+LayerNorm "
                         "transform has no blockforge head; ")
    r.expect("position_embedding_type", "absolute")
    r.expect("is_decoder", False, "BERT as a decoder needs causal attention and a cache")
    r.ignore("tie_word_embeddings")  # ties the masked-LM decoder, which is not reproduced
    d = r.take("hidden_size", types=int)
    eps = float(r.take("layer_norm_eps", 1e-12, types=(float, int)))
    norm = {"type": "layernorm", "eps": eps}
    dropout = r.take("hidden_dropout_prob", 0.1, types=(float, int))
    classifier_dropout = r.take("classifier_dropout", None, types=(float, int, type(None)))
    id2label = r.take("id2label", None, types=(dict, type(None)))
    num_labels = r.take("num_labels", None, types=(int, type(None)))
    head: dict[str, Any] = {"type": "hidden"}
    if kind == "classifier":
        classes = num_labels or (len(id2label) if id2label else 2)
        head = {"type": "classifier", "classes": classes, "pooling": "cls", "pooler": "tanh",
                "dropout": classifier_dropout if classifier_dropout is not None else dropout}
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
                            "activation": activation(r, "hidden_act", "gelu"), "bias": True},
        },
        "head": head,
        "init_std": init_std(r),
    }


def config_to_spec(
    config: Mapping[str, Any] | Any,
    *,
    name: str | None = None,
    source: str = "<config>",
    architecture: str | None = None,
) -> dict[str, Any]:
    """Convert a transformers config into a blockforge spec (a plain dict, ready for ``load_spec``).

    Args:
        config: the parsed ``config.json``, or a transformers ``PretrainedConfig`` (anything with
            ``to_dict()``).
        name: the spec's name (default: ``hf-<model_type>``).
        source: where the config came from, for error messages.
        architecture: the transformers class to reproduce, overriding the config's ``architectures``
            (e.g. ``BertModel`` for the encoder of a ``BertForMaskedLM`` checkpoint).

    Returns:
        ``{blockforge: 1, name, description, model}``.

    Raises:
        UnsupportedConfigError: unknown keys, or values blockforge cannot reproduce exactly.
        InteropError: the config has no (or an unsupported) ``model_type``.
    """
    if not isinstance(config, Mapping):
        to_dict = getattr(config, "to_dict", None)
        if to_dict is None:
            raise InteropError(f"expected a config mapping or a transformers PretrainedConfig, got "
                               f"{type(config).__name__}")
        config = to_dict()
    family = config.get("model_type")
    if not isinstance(family, str):
        raise InteropError(f"{source}: the config has no 'model_type'; supported: {', '.join(sorted(CONVERTERS))}")
    conv = CONVERTERS.get(family)
    if conv is None:
        raise InteropError(
            f"{source}: model_type {family!r} is not supported; supported: {', '.join(sorted(CONVERTERS))}"
        )
    if architecture is not None:
        config = {**config, "architectures": [architecture]}
    reader = ConfigReader(config, family)
    model = conv(reader)
    reader.finish(source)
    return {
        "blockforge": 1,
        "name": name or f"hf-{family}",
        "description": f"imported from a transformers {family} config ({source})",
        "model": model,
    }


def read_config(path: str | Path) -> dict[str, Any]:
    """Read a ``config.json``.

    Raises:
        InteropError: unreadable file, malformed JSON (with line:col), or not a JSON object.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InteropError(f"cannot read {p}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InteropError(f"{p}:{exc.lineno}:{exc.colno}: malformed JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise InteropError(f"{p}: a transformers config is a JSON object, got {type(data).__name__}")
    return data


def import_config(path: str | Path, *, name: str | None = None, architecture: str | None = None) -> dict[str, Any]:
    """Read a ``config.json`` and convert it (see :func:`config_to_spec`)."""
    return config_to_spec(read_config(path), name=name, source=str(path), architecture=architecture)


def family_of(config: Mapping[str, Any]) -> str:
    """The ``model_type`` of a config."""
    return str(config.get("model_type"))


def supported_families() -> Iterator[str]:
    """The ``model_type`` values :func:`config_to_spec` converts."""
    return iter(sorted(CONVERTERS))
