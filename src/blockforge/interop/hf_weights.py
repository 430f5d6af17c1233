"""State dicts both ways between compiled blockforge models and the transformers layout, and
``.safetensors`` files (the ``safetensors`` package). The per-family rules are in :mod:`hf_layouts`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from blockforge.errors import BlockforgeError
from blockforge.interop.hf_config import InteropError
from blockforge.interop.hf_layouts import LAYOUTS, Layout, Shape, assemble_theirs


@dataclass
class WeightReport:
    """What a load matched, by transformers key.

    Attributes:
        loaded: transformers keys that were loaded.
        missing: ``(key, expected shape)`` for keys the model needs but the state dict lacks.
        unexpected: ``(key, shape)`` for keys the state dict has but the layout does not use.
        mismatched: ``(key, shape in the state dict, expected shape)``; also tied tensors that differ.
        ignored: keys that hold no weight of this model: known non-persistent buffers
            (``embeddings.position_ids``, rotary ``inv_freq``, GPT-2's causal-mask ``attn.bias``) that
            older transformers versions saved, which transformers ignores too, and parts the model does
            not reproduce (``BertModel``'s pooler).
    """

    loaded: list[str] = field(default_factory=list)
    missing: list[tuple[str, Shape]] = field(default_factory=list)
    unexpected: list[tuple[str, Shape]] = field(default_factory=list)
    mismatched: list[tuple[str, Shape, Shape | str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def __str__(self) -> str:
        lines = [f"loaded {len(self.loaded)} tensors"]
        if self.ignored:
            lines.append(f"ignored {len(self.ignored)} tensors without weights of this model (non-persistent "
                         f"buffers, parts not reproduced): {', '.join(self.ignored)}")
        lines += [f"missing: {k} (expected shape {list(s)})" for k, s in self.missing]
        lines += [f"unexpected: {k} (shape {list(s)})" for k, s in self.unexpected]
        for k, got, want in self.mismatched:
            want_s = want if isinstance(want, str) else f"expected shape {list(want)}"
            lines.append(f"mismatched: {k} (shape {list(got)} in the state dict, {want_s})")
        return "\n".join(lines)


NON_PERSISTENT = (
    r"(.+\.)?embeddings\.(position_ids|token_type_ids)",  # BERT-like: position and default type ids
    r"(.+\.)?rotary_emb\.(inv_freq|original_inv_freq)",  # every rotary family
    r"(.+\.)?(attn|attention)\.(bias|masked_bias)",  # GPT-2, GPT-J, GPT-NeoX: causal-mask buffers
    r"(.+\.)?embed_positions",  # GPT-J's sinusoid table
)
"""Non-persistent buffers (no weights) that checkpoints of every family may carry, by key pattern; a
load ignores them where the layout maps no tensor of that name, and lists them in the report."""


class WeightMismatchError(InteropError):
    """A state dict does not fit the model; :attr:`report` says which tensors, with both shapes."""

    def __init__(self, report: WeightReport, family: str) -> None:
        self.report = report
        super().__init__(f"the {family} state dict does not fit this model:\n{report}")


def _spec_model(model: nn.Module) -> dict[str, Any]:
    spec = getattr(model, "blockforge_spec", None)
    if not isinstance(spec, dict):
        raise InteropError("this module was not built by blockforge.build_model (it has no blockforge_spec)")
    return spec["model"]


def layout(model: nn.Module, family: str) -> Layout:
    """The layout of ``family`` for this compiled model, checked to cover exactly its state dict.

    Raises:
        InteropError: unknown family, or the model's tensors do not match the family's layout
            (the spec is not an instance of that family).
    """
    fn = LAYOUTS.get(family)
    if fn is None:
        raise InteropError(f"no weight layout for family {family!r}; supported: {', '.join(sorted(LAYOUTS))}")
    try:
        lay = fn(_spec_model(model), {k: tuple(v.shape) for k, v in model.state_dict().items()})
    except (KeyError, TypeError) as exc:
        raise InteropError(f"this model's spec is not a {family} model: {exc}") from None
    ours = set(model.state_dict())
    covered = {r.ours for r in lay.rules}
    if ours != covered:
        extra, lacking = sorted(ours - covered), sorted(covered - ours)
        raise InteropError(
            f"this model is not a {family} model: "
            + (f"tensors with no {family} counterpart: {', '.join(extra)}" if extra else "")
            + ("; " if extra and lacking else "")
            + (f"{family} tensors this model lacks: {', '.join(lacking)}" if lacking else "")
        )
    return lay


def export_hf_state_dict(model: nn.Module, *, family: str, include_aliases: bool = True) -> dict[str, Tensor]:
    """The model's weights in the transformers layout of ``family``.

    Args:
        model: a model built by :func:`blockforge.build_model` from a spec of that family.
        family: the transformers ``model_type`` (``gpt2``, ...).
        include_aliases: also emit tied keys (``lm_head.weight``) as transformers' ``state_dict()`` does;
            False for files, where transformers re-ties them on load.

    Returns:
        transformers key -> tensor (detached, contiguous, on the model's device and dtype).

    Raises:
        InteropError: the model is not an instance of ``family``.
    """
    lay = layout(model, family)
    ours = model.state_dict()
    out = {k: t.contiguous() for k, t in assemble_theirs(lay.rules, {k: v.detach() for k, v in ours.items()}).items()}
    if include_aliases:
        for alias, target in lay.aliases.items():
            out[alias] = out[target]
    return out


def _align_prefix(sd: Mapping[str, Tensor], lay: Layout) -> dict[str, Tensor]:
    """Accept a state dict with or without the base-model prefix (``GPT2Model`` vs ``GPT2LMHeadModel``):
    when no key has the layout's own form, keys are prefixed or unprefixed to match it. Old key names
    the layout knows (``renamed``) are read under their current names."""
    sd = {lay.renamed.get(k, k): v for k, v in sd.items()} if lay.renamed else sd
    names = {n for r in lay.rules for n in r.theirs} | set(lay.aliases)
    if not lay.prefix or any(k in names for k in sd):
        return dict(sd)
    n = len(lay.prefix)
    out: dict[str, Tensor] = {}
    for k, v in sd.items():
        if lay.prefix + k in names:
            k = lay.prefix + k
        elif k.startswith(lay.prefix) and k[n:] in names:
            k = k[n:]
        out[k] = v
    return out


def load_hf_state_dict(
    model: nn.Module, state_dict: Mapping[str, Tensor], *, family: str, strict: bool = True
) -> WeightReport:
    """Copy a transformers state dict of ``family`` into a compiled model.

    Args:
        model: built by :func:`blockforge.build_model` from a spec of that family.
        state_dict: transformers key -> tensor (``hf_model.state_dict()`` or a safetensors file's content).
        family: the transformers ``model_type``.
        strict: raise when anything is missing, unexpected or mismatched (nothing is copied then);
            otherwise load what fits and return the report.

    Returns:
        The report of what was loaded, missing, unexpected and mismatched.

    Raises:
        WeightMismatchError: ``strict`` and the report is not clean.
        InteropError: the model is not an instance of ``family``.
    """
    lay = layout(model, family)
    sd = _align_prefix(state_dict, lay)
    expected = {k: tuple(v.shape) for k, v in _expected_shapes(model, lay).items()}
    report = WeightReport()
    used: set[str] = set()
    updates: dict[str, Tensor] = {}
    for rule in lay.rules:
        parts, ok = [], True
        for key in rule.theirs:
            used.add(key)
            if key not in sd:
                if (key, expected[key]) not in report.missing:  # experts share one stacked tensor
                    report.missing.append((key, expected[key]))
                ok = False
            elif tuple(sd[key].shape) != expected[key]:
                if key not in [k for k, *_ in report.mismatched]:
                    report.mismatched.append((key, tuple(sd[key].shape), expected[key]))
                ok = False
            else:
                parts.append(sd[key])
        if ok:
            updates[rule.ours] = rule.to_ours(parts)
            report.loaded.extend(rule.theirs)
    for alias, target in lay.aliases.items():
        used.add(alias)
        if alias not in sd:
            continue  # transformers re-ties it; so does this model
        if tuple(sd[alias].shape) != expected[alias]:
            report.mismatched.append((alias, tuple(sd[alias].shape), expected[alias]))
        elif target in sd and tuple(sd[target].shape) == expected[target] and not torch.equal(
            sd[alias].to(sd[target].dtype), sd[target]
        ):
            report.mismatched.append(
                (alias, tuple(sd[alias].shape), f"this model ties it to {target}, but the values differ")
            )
    report.loaded = list(dict.fromkeys(report.loaded))  # a stacked expert tensor feeds several rules
    patterns = [re.compile(p) for p in lay.ignored]
    buffers = [re.compile(p) for p in NON_PERSISTENT]
    for key, t in sd.items():
        if key in used:
            continue
        if any(p.fullmatch(key) for p in patterns) or any(p.fullmatch(key) for p in buffers):
            report.ignored.append(key)
        else:
            report.unexpected.append((key, tuple(t.shape)))
    if strict and not report.ok:
        raise WeightMismatchError(report, family)
    params = model.state_dict()
    with torch.no_grad():
        for name, value in updates.items():
            params[name].copy_(value.to(dtype=params[name].dtype, device=params[name].device))
    return report


def _expected_shapes(model: nn.Module, lay: Layout) -> dict[str, Tensor]:
    """transformers key -> an empty meta tensor of the shape this model needs."""
    ours = {k: torch.empty(v.shape, device="meta") for k, v in model.state_dict().items()}
    out = assemble_theirs(lay.rules, ours)
    for alias, target in lay.aliases.items():
        out[alias] = out[target]
    return out


def read_safetensors(path: str | Path) -> dict[str, Tensor]:
    """Read a ``.safetensors`` file into a CPU state dict.

    Raises:
        InteropError: the file is missing or not a safetensors file.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (OSError, SafetensorError) as exc:
        raise InteropError(f"cannot read safetensors file {path}: {exc}") from None


def write_safetensors(state_dict: Mapping[str, Tensor], path: str | Path) -> None:
    """Write a state dict as ``.safetensors`` atomically (a temporary file, then a rename).

    Raises:
        InteropError: tensors share memory (deduplicate aliases first) or the file cannot be written.
    """
    from safetensors.torch import save_file

    from blockforge._io import atomic_path

    try:
        with atomic_path(path) as tmp:
            save_file({k: v.detach().cpu().contiguous() for k, v in state_dict.items()}, tmp,
                      metadata={"format": "pt"})
    except RuntimeError as exc:  # safetensors refuses tensors that share memory
        raise InteropError(f"cannot write {path}: {exc}") from None
    except BlockforgeError as exc:
        raise InteropError(str(exc)) from None


def read_hf_directory(path: str | Path) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """Read a transformers checkpoint directory: ``config.json`` and its weights, one
    ``model.safetensors`` or the shards a ``model.safetensors.index.json`` lists (``weight_map``).

    Returns:
        ``(config, state_dict)``, the state dict on the CPU.

    Raises:
        InteropError: no config, no weights (``pytorch_model.bin`` is named as unsupported: pickle),
            a malformed index, a shard missing, or a tensor the index places in another shard.
    """
    import json

    from blockforge.interop.hf_config import read_config

    root = Path(path)
    if not root.is_dir():
        raise InteropError(f"{root}: not a directory")
    config = read_config(root / "config.json")
    index = root / "model.safetensors.index.json"
    if index.exists():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            shards = sorted(set(weight_map.values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InteropError(f"{index}: not a safetensors index (needs a 'weight_map' object): {exc}") from None
        state: dict[str, Tensor] = {}
        for shard in shards:
            if Path(shard).name != shard:
                raise InteropError(f"{index}: shard {shard!r} is not a file name in {root}")
            part = read_safetensors(root / shard)
            for key in part:
                if weight_map.get(key) != shard:
                    raise InteropError(f"{root / shard}: holds {key!r}, which the index places in "
                                       f"{weight_map.get(key)!r}")
            state.update(part)
        missing = sorted(set(weight_map) - set(state))
        if missing:
            raise InteropError(f"{index}: tensors listed but in no shard: {', '.join(missing[:5])}")
        return config, state
    single = root / "model.safetensors"
    if single.exists():
        return config, read_safetensors(single)
    found = ", ".join(sorted(p.name for p in root.iterdir())) or "nothing"
    raise InteropError(f"{root}: no model.safetensors or model.safetensors.index.json (found: {found}); "
                       "pickled pytorch_model.bin files are not read")


def from_hf_directory(
    path: str | Path, *, dtype: torch.dtype | None = None, architecture: str | None = None,
    name: str | None = None,
) -> tuple[nn.Module, WeightReport]:
    """Compile a transformers checkpoint directory (:func:`read_hf_directory`) and load its weights strictly.

    Returns:
        ``(model, report)``: the compiled model in eval mode (the checkpoint's dtype unless ``dtype``),
        and what the load matched and ignored.

    Raises:
        InteropError: see :func:`read_hf_directory`, :func:`~blockforge.interop.config_to_spec` and
            :func:`load_hf_state_dict`.
    """
    from blockforge.build import build_model
    from blockforge.interop.hf_config import config_to_spec

    config, state = read_hf_directory(path)
    spec = config_to_spec(config, name=name, source=str(Path(path) / "config.json"), architecture=architecture)
    if dtype is None:
        dtype = next((t.dtype for t in state.values() if t.is_floating_point()), torch.float32)
    model = build_model(spec, dtype=dtype)
    report = load_hf_state_dict(model, state, family=config["model_type"])
    return model.eval(), report


def save_hf_directory(model: nn.Module, path: str | Path, *, family: str | None = None) -> str:
    """Write a directory transformers loads with ``from_pretrained``: ``config.json`` (the spec mapped
    back by :func:`~blockforge.interop.hf_export.spec_to_config`) and ``model.safetensors``.

    Args:
        model: built by :func:`blockforge.build_model` (or loaded from a model directory).
        path: the directory (created if missing); both files are written atomically.
        family: the transformers family; None finds the one the spec maps back to.

    Returns:
        The family written (``model_type``).

    Raises:
        InteropError: the spec maps back to no family exactly, or the directory cannot be written.
    """
    import json

    from blockforge._io import write_text_atomic
    from blockforge.interop.hf_export import spec_to_config

    spec = getattr(model, "blockforge_spec", None)
    if not isinstance(spec, dict):
        raise InteropError("this module was not built by blockforge.build_model (it has no blockforge_spec)")
    family, config = spec_to_config(spec, family=family)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    config["dtype"] = str(dtype).removeprefix("torch.")
    root = Path(path)
    try:
        root.mkdir(parents=True, exist_ok=True)
        save_hf_weights(model, root / "model.safetensors", family=family)
        write_text_atomic(root / "config.json", json.dumps(config, indent=2, sort_keys=True) + "\n")
    except (OSError, BlockforgeError) as exc:
        raise InteropError(f"cannot write {root}: {exc}") from None
    return family


def load_hf_weights(
    model: nn.Module, source: Mapping[str, Tensor] | str | Path, *, family: str, strict: bool = True
) -> WeightReport:
    """Load a transformers state dict, or a ``.safetensors`` file, into a compiled model.

    See :func:`load_hf_state_dict` for the arguments, return value and errors.
    """
    sd = read_safetensors(source) if isinstance(source, (str, Path)) else source
    return load_hf_state_dict(model, sd, family=family, strict=strict)


def save_hf_weights(model: nn.Module, path: str | Path, *, family: str) -> None:
    """Export the model's weights in the transformers layout to a ``.safetensors`` file (atomically).

    Tied keys are left out, as transformers' ``save_pretrained`` does; transformers re-ties them on load.
    """
    write_safetensors(export_hf_state_dict(model, family=family, include_aliases=False), path)


def from_hf_model(hf_model: nn.Module, *, name: str | None = None) -> nn.Module:
    """Compile the spec of a transformers model's config and load its weights (same dtype and device).

    Args:
        hf_model: a transformers ``PreTrainedModel`` of a supported family.
        name: the spec's name (default ``hf-<model_type>``).

    Returns:
        The compiled blockforge model, in eval mode if ``hf_model`` is.

    Raises:
        UnsupportedConfigError: the config cannot be reproduced exactly.
        WeightMismatchError: the weights do not fit (should not happen for a consistent model).
    """
    from blockforge.build import build_model
    from blockforge.interop.hf_config import config_to_spec

    spec = config_to_spec(hf_model.config, name=name, architecture=type(hf_model).__name__)
    first = next(hf_model.parameters())
    model = build_model(spec, dtype=first.dtype, device=first.device)
    load_hf_state_dict(model, hf_model.state_dict(), family=hf_model.config.model_type)
    return model.train(hf_model.training)


__all__ = [
    "from_hf_directory", "from_hf_model", "read_hf_directory", "save_hf_directory",
    "WeightMismatchError", "WeightReport", "export_hf_state_dict", "layout",
    "load_hf_state_dict", "load_hf_weights", "read_safetensors", "save_hf_weights", "write_safetensors",
]
