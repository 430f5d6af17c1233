"""Writing and reading model directories (see :mod:`blockforge.modeldir`)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blockforge.errors import BlockforgeError
from blockforge.modeldir.config import GenerationConfig

if TYPE_CHECKING:
    import torch
    from tokenizers import Tokenizer
    from torch import nn

    from blockforge.registry.registry import Registries

SPEC_FILE = "spec.yaml"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
GENERATION_FILE = "generation.json"

_HASH_LINE = re.compile(r"^# spec_hash: ([0-9a-f]{64})$", re.MULTILINE)
_TEXT_LINE = re.compile(r"^# spec_sha256: ([0-9a-f]{64})$", re.MULTILINE)


def _body(text: str) -> str:
    """``spec.yaml`` without its leading comment header (what ``spec_sha256`` covers)."""
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines) and lines[i].startswith("#"):
        i += 1
    return "".join(lines[i:])


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
_FORMAT = "blockforge-model/1"


class ModelDirError(BlockforgeError):
    """A model directory cannot be written or read: missing files, a spec/weights mismatch, a bad hash."""


def _dir(path: str | Path, *, create: bool) -> Path:
    root = Path(path)
    if root.exists() and not root.is_dir():
        raise ModelDirError(f"{root} is a file; a model directory is a folder (spec.yaml, model.safetensors, ...)")
    if create:
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ModelDirError(f"cannot create the model directory {root}: {exc.strerror or exc}") from None
    elif not root.is_dir():
        raise ModelDirError(f"model directory {root} does not exist")
    return root


def _tie_groups(model: nn.Module) -> list[list[str]]:
    """Names of parameters that are one tensor (tied weights), in module order; singletons included."""
    groups: dict[int, list[str]] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        groups.setdefault(id(p), []).append(name)
    return list(groups.values())


def save_model(
    model: nn.Module,
    path: str | Path,
    *,
    tokenizer: Tokenizer | str | Path | None = None,
    generation: GenerationConfig | dict[str, Any] | None = None,
) -> Path:
    """Write a model directory: ``spec.yaml``, ``model.safetensors`` and, when given, the tokenizer and
    generation defaults. Other files in the folder (a training run's ``state/``) are left alone.

    Args:
        model: a model built by :func:`blockforge.build_model` (it carries its spec and hash).
        path: the directory (created if missing).
        tokenizer: a ``tokenizers.Tokenizer`` or the path of a ``tokenizer.json``; None writes none.
        generation: generation defaults and chat template (a :class:`GenerationConfig` or its fields).

    Returns:
        The directory.

    Raises:
        ModelDirError: the model carries no spec, the folder cannot be written, or ``generation`` is invalid.
    """
    import yaml
    from pydantic import ValidationError
    from safetensors.torch import save_file

    from blockforge._io import atomic_path, write_text_atomic

    spec, digest = getattr(model, "blockforge_spec", None), getattr(model, "blockforge_hash", None)
    if spec is None or digest is None:
        raise ModelDirError(f"{type(model).__name__} carries no blockforge spec; save a model made by "
                            "blockforge.build_model (or load_model)")
    if isinstance(generation, dict):
        try:
            generation = GenerationConfig.model_validate(generation)
        except ValidationError as exc:
            raise ModelDirError(f"invalid generation defaults: {exc}") from None
    tok_text = None
    if tokenizer is not None:
        tok_text = Path(tokenizer).read_text(encoding="utf-8") if isinstance(tokenizer, (str, Path)) \
            else tokenizer.to_str()
    root = _dir(path, create=True)
    state = model.state_dict()
    alias = {name for group in _tie_groups(model) for name in group[1:]}
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items() if k not in alias}
    if any(t.is_meta for t in tensors.values()):
        raise ModelDirError("the model is on the meta device: it holds no weights to save")
    try:
        with atomic_path(root / WEIGHTS_FILE) as tmp:
            save_file(tensors, tmp, metadata={"format": "pt", "blockforge": _FORMAT, "spec_hash": digest})
        if tok_text is not None:
            write_text_atomic(root / TOKENIZER_FILE, tok_text)
        if generation is not None:
            write_text_atomic(root / GENERATION_FILE, generation.model_dump_json(indent=2) + "\n")
        body = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
        # spec_hash: the architecture (compares models); spec_sha256: this file's text, so that a later
        # blockforge whose canonical form hashes the same architecture differently (a parameter added with
        # a default) still tells an untouched file from an edited one.
        header = (f"# blockforge resolved spec, written by save_model. The weights in {WEIGHTS_FILE} belong to\n"
                  f"# this exact architecture; edited, it no longer loads.\n# spec_hash: {digest}\n"
                  f"# spec_sha256: {_sha256(body)}\n")
        write_text_atomic(root / SPEC_FILE, header + body)
    except BlockforgeError as exc:
        raise ModelDirError(str(exc)) from None
    return root


def read_spec(path: str | Path, *, registries: Registries | None = None) -> tuple[Any, str]:
    """Validate a model directory's ``spec.yaml`` and check it against the hash it was saved with.

    Args:
        path: the model directory.
        registries: where component names are resolved; None = built-ins plus installed plugins.

    A spec whose text is unchanged (``spec_sha256``) loads even when this version of blockforge hashes it
    differently from the one that saved it (a component gained a parameter whose default keeps the old
    behaviour: the saved spec is fully resolved, so it still describes the same model).

    Returns:
        ``(validated spec, hash)``: the hash as this version computes it.

    Raises:
        ModelDirError: no ``spec.yaml``, no hash line, or a spec edited after saving (its text no longer
            matches ``spec_sha256``, or, for a directory written without that line, its hash differs).
        SpecError: the spec no longer validates (e.g. a plugin it needs is missing), every problem located.
    """
    validated, digest, _ = _read_spec(path, registries=registries)
    return validated, digest


def _read_spec(path: str | Path, *, registries: Registries | None) -> tuple[Any, str, str]:
    """:func:`read_spec`, also returning the hash the directory was saved with."""
    from blockforge.spec import load_spec, spec_hash

    root = _dir(path, create=False)
    spec_path = root / SPEC_FILE
    if not spec_path.is_file():
        raise ModelDirError(f"{root} is not a model directory: {SPEC_FILE} is missing")
    text = spec_path.read_text(encoding="utf-8")
    match, text_match = _HASH_LINE.search(text), _TEXT_LINE.search(text)
    if match is None:
        raise ModelDirError(f"{spec_path}: no '# spec_hash: <sha256>' line; write model directories with "
                            "blockforge.save_model or `blockforge build -o`")
    if text_match is not None and text_match.group(1) != _sha256(_body(text)):
        raise ModelDirError(f"{spec_path}: the spec was edited after the weights were saved (its text no longer "
                            f"matches the spec_sha256 line); save the model again to change its architecture")
    validated = load_spec(spec_path, registries=registries)
    digest = spec_hash(validated)
    if digest != match.group(1) and text_match is None:
        raise ModelDirError(f"{spec_path}: the spec's hash is {digest[:12]}… but it was saved as "
                            f"{match.group(1)[:12]}…: the spec was edited after the weights were saved (or the "
                            "directory was written by a blockforge that hashed specs differently; save it again)")
    return validated, digest, match.group(1)


def _file_dtype(code: str) -> torch.dtype:
    import torch

    table = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
    return table.get(code, torch.float32)


def load_model(
    path: str | Path,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    registries: Registries | None = None,
) -> nn.Module:
    """Build the model of a model directory and load its weights (no code in the files is run).

    Args:
        path: the model directory.
        device: where to put the weights.
        dtype: parameter dtype; None keeps the saved one.
        registries: where component names are resolved; None = built-ins plus installed plugins.

    Returns:
        The model in eval mode, with ``blockforge_spec`` and ``blockforge_hash`` set.

    Raises:
        ModelDirError: missing files, a hash mismatch between spec and weights, or weights that do not fit
            the spec (each tensor named, with the file's shape and the spec's shape).
        SpecError: the stored spec does not validate.
    """
    from safetensors import SafetensorError, safe_open

    from blockforge.build import build_model

    validated, digest, saved = _read_spec(path, registries=registries)
    weights = Path(path) / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelDirError(f"{Path(path)} is not a complete model directory: {WEIGHTS_FILE} is missing")
    try:
        with safe_open(str(weights), framework="pt") as fh:
            meta = fh.metadata() or {}
            shapes = {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}  # noqa: SIM118
            codes = {k: fh.get_slice(k).get_dtype() for k in shapes}
    except (OSError, SafetensorError) as exc:
        raise ModelDirError(f"cannot read {weights}: {exc}") from None
    if meta.get("spec_hash") not in (digest, saved):
        raise ModelDirError(f"{weights} was saved for spec {str(meta.get('spec_hash'))[:12]}…, but {SPEC_FILE} "
                            f"is spec {digest[:12]}…: the directory mixes two models")
    if dtype is None:
        floating = [c for c in codes.values() if c in ("F64", "F32", "F16", "BF16")]
        dtype = _file_dtype(floating[0]) if floating else None
    model = build_model(validated, registries=registries, device="meta", dtype=dtype)
    _check_shapes(model, shapes, weights)
    model = build_model(validated, registries=registries, device=device, dtype=dtype)
    from safetensors.torch import load_file

    state = load_file(str(weights), device=str(device))
    for group in _tie_groups(model):
        for alias in group[1:]:
            state[alias] = state[group[0]]
    model.load_state_dict(state, strict=True)
    return model.eval()


def _check_shapes(model: nn.Module, shapes: dict[str, tuple[int, ...]], where: Path) -> None:
    """Refuse weights that do not fit the spec, naming every tensor at fault."""
    alias = {name for group in _tie_groups(model) for name in group[1:]}
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items() if k not in alias}
    problems = [f"  {k}: file {shapes[k]} vs spec {expected[k]}" for k in expected
                if k in shapes and shapes[k] != expected[k]]
    problems += [f"  {k}: missing from the file (spec {expected[k]})" for k in expected if k not in shapes]
    problems += [f"  {k}: in the file {shapes[k]} but not in the spec" for k in shapes if k not in expected]
    if problems:
        raise ModelDirError(f"{where} does not fit {SPEC_FILE} ({len(problems)} tensor(s)):\n" + "\n".join(problems))


def load_tokenizer(path: str | Path) -> Tokenizer | None:
    """The directory's ``tokenizer.json`` as a ``tokenizers.Tokenizer``, or None when it has none.

    Raises:
        ModelDirError: the file is not a valid tokenizer.
    """
    file = _dir(path, create=False) / TOKENIZER_FILE
    if not file.is_file():
        return None
    from tokenizers import Tokenizer

    try:
        return Tokenizer.from_file(str(file))
    except Exception as exc:  # noqa: BLE001 - tokenizers raises a bare Exception for a bad file
        raise ModelDirError(f"{file} is not a tokenizers tokenizer file: {exc}") from None


def load_generation_config(path: str | Path) -> GenerationConfig:
    """The directory's generation defaults (``generation.json``), or the defaults when it has none.

    Raises:
        ModelDirError: the file is not valid JSON or has unknown or ill-typed fields.
    """
    from pydantic import ValidationError

    file = _dir(path, create=False) / GENERATION_FILE
    if not file.is_file():
        return GenerationConfig()
    try:
        return GenerationConfig.model_validate(json.loads(file.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise ModelDirError(f"{file}: invalid generation defaults: {exc}") from None


__all__ = [
    "GENERATION_FILE", "SPEC_FILE", "TOKENIZER_FILE", "WEIGHTS_FILE", "ModelDirError",
    "load_generation_config", "load_model", "load_tokenizer", "read_spec", "save_model",
]
