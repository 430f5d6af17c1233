"""Hugging Face ``config.json`` -> blockforge spec, one converter per model family.

Torch-free and transformers-free: a config is plain JSON. Every key of the config is accounted for:
it is either converted, checked against the one value blockforge reproduces exactly, or known to have
no effect on the forward pass (generation settings, token ids, labels, ...). Anything else is an
error that names the key, so an import never yields a silently different model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
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
    from blockforge.interop.hf_families import CONVERTERS

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


def supported_families() -> Iterator[str]:
    """The ``model_type`` values :func:`config_to_spec` converts."""
    from blockforge.interop.hf_families import CONVERTERS

    return iter(sorted(CONVERTERS))
