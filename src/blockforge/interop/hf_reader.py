"""Reading a transformers ``config.json`` key by key, under the key policy of :mod:`hf_policy`.

Torch-free and transformers-free. A key of the config is either converted or checked by the family's
converter (:mod:`hf_families`), or inert: transformers stores it but its modelling code never reads it
(derived from transformers itself, see :mod:`hf_derive`), or one of the generic keys below that cannot
change what the model computes. Any other key changes the model and has no blockforge equivalent: it is
refused by name, every such key in one error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from blockforge.errors import BlockforgeError
from blockforge.interop.hf_policy_data import FAMILIES as POLICY

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
        "encoder_repetition_penalty", "num_assistant_tokens", "num_assistant_tokens_schedule",
        "assistant_confidence_threshold", "assistant_lookbehind", "target_lookbehind",
        # chunked feed-forward computes the same values
        "chunk_size_feed_forward",
        # initialisation only: imported weights replace it (converters still read it, for init_std)
        "initializer_range",
    }
)
"""Config keys every family ignores: they do not change what the model computes (including keys the
modelling code reads for something else: ``pad_token_id`` is the embedding's ``padding_idx``, which
only masks its gradient)."""

GENERIC_RELEVANT = frozenset(
    {
        # read by PreTrainedModel (modeling_utils), not by the family's modelling file
        "tie_word_embeddings",
        # legacy spellings that PreTrainedConfig.__post_init__ moves into ``rope_parameters``
        "rope_scaling", "rope_theta", "partial_rotary_factor", "rope_parameters",
        # the class of the model
        "architectures",
    }
)
"""Config keys that change the model in every family, whatever the modelling file reads."""

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

    Converters call :meth:`take`, :meth:`expect`, :meth:`refuse` and :meth:`ignore`; :meth:`finish`
    raises one :class:`UnsupportedConfigError` listing every refused value and every key that changes
    the model (``relevant`` in :mod:`hf_policy_data`) without being handled. Keys transformers never
    reads are inert: accepted and listed in :attr:`inert`.

    A key absent from the config takes the default of transformers' config class for this family
    (``fields`` in :mod:`hf_policy_data`); a converter's own default is used only for keys the class
    does not declare (legacy spellings such as GPT-NeoX's ``rotary_pct``).

    Attributes:
        config: the config's keys and values.
        family: its ``model_type``.
        inert: keys accepted because transformers' modelling code never reads them.
    """

    def __init__(self, config: Mapping[str, Any], family: str) -> None:
        self.config = dict(config)
        self.family = family
        self.policy: Mapping[str, Any] = POLICY.get(family, {})
        policy = self.policy
        fields = dict(policy.get("fields", {}))
        for standard, stored in policy.get("attribute_map", {}).items():
            if standard in fields:  # a field declared under its standard name, stored under the family's
                fields.setdefault(stored, fields[standard])
        self.defaults: Mapping[str, Any] = fields
        self.relevant = frozenset(policy.get("relevant", ())) | GENERIC_RELEVANT
        self.seen: set[str] = set()
        self.problems: list[ConfigProblem] = []
        self.inert: list[str] = []
        # attribute_map: a standard name is read and written as the family's own attribute
        # (Qwen3-MoE's num_experts is num_local_experts, GPT-2's hidden_size is n_embd)
        for standard, stored in policy.get("attribute_map", {}).items():
            if standard in self.config:
                self.seen.add(standard)
                value = self.config.pop(standard)
                self.config.setdefault(stored, value)

    def has(self, key: str) -> bool:
        return key in self.config

    def default(self, key: str, fallback: Any = ...) -> Any:
        """transformers' default of ``key`` for this family (``fallback`` when its class has no such field)."""
        return self.defaults.get(key, fallback) if key in self.defaults else fallback

    def take(self, key: str, default: Any = ..., *, types: type | tuple[type, ...] | None = None) -> Any:
        """The value of ``key``; when absent, transformers' default for this family, else ``default``
        (a key with neither is required)."""
        self.seen.add(key)
        default = self.default(key, default)
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

    def refuse(self, key: str, message: str, value: Any = ...) -> None:
        """Record a problem with ``key`` found by the converter itself."""
        self.seen.add(key)
        self.problems.append(ConfigProblem(key, self.config.get(key) if value is ... else value, message))

    def ignore(self, *keys: str) -> None:
        """Mark keys that do not affect the forward pass of this family."""
        self.seen.update(keys)

    def finish(self, source: str) -> None:
        """Raise for refused values and for unhandled keys that change the model.

        Raises:
            UnsupportedConfigError: listing every problem.
        """
        for key, value in GENERIC_EXPECTED.items():
            if key not in self.seen:
                self.expect(key, value)
        for key in self.config:
            if key in self.seen or key in GENERIC_IGNORED:
                continue
            if key in self.relevant:
                self.problems.append(ConfigProblem(
                    key, self.config[key], f"transformers' {self.family} model reads this key, and blockforge "
                    "does not reproduce it"))
            else:
                self.inert.append(key)
        if self.problems:
            raise UnsupportedConfigError(self.family, self.problems, source)
