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

from blockforge.interop.hf_families import CONVERTERS
from blockforge.interop.hf_reader import ConfigProblem, ConfigReader, InteropError, UnsupportedConfigError

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
    spec = {
        "blockforge": 1,
        "name": name or f"hf-{family}",
        "description": f"imported from a transformers {family} config ({source})",
        "model": model,
    }
    _validate(spec, reader, source)
    return spec


def _validate(spec: dict[str, Any], reader: ConfigReader, source: str) -> None:
    """Validate the generated spec; its problems are reported against the config keys they came from.

    A spec value is traced back to the config key that holds the same value (the converters copy
    values; the last path component breaks ties, so ``num_attention_heads: 0`` is named, not
    ``model.block.attention.heads``). A value no single key holds is named by its spec path.

    Raises:
        UnsupportedConfigError: the spec does not validate.
    """
    from blockforge.errors import SpecError
    from blockforge.spec import load_spec

    try:
        load_spec(spec)
    except SpecError as exc:
        problems = []
        for issue in exc.issues:
            value: Any = spec
            for part in issue.path:
                try:
                    value = value[part]
                except (KeyError, IndexError, TypeError):
                    value = None
                    break
            keys = [k for k in reader.seen if k in reader.config and reader.config[k] == value
                    and type(reader.config[k]) is type(value)]
            path = ".".join(str(p) for p in issue.path)
            if not keys and "positional" in issue.path:  # a rope setting, nested in the config
                keys = [k for k in ("rope_scaling", "rope_parameters") if reader.config.get(k)]
            if keys:
                key = min(keys, key=lambda k: (str(issue.path[-1]) not in k, k))
                if any(p.key == key for p in problems):  # one value, several places (block and final norm)
                    continue
                problems.append(ConfigProblem(key, reader.config[key], f"{issue.message} (as {path})"))
                continue
            problems.append(ConfigProblem(f"<{path}>", value, f"{issue.message} (derived from the config)"))
        raise UnsupportedConfigError(reader.family, problems, source) from None


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
    return iter(sorted(CONVERTERS))
