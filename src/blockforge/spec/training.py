"""The ``training:`` and ``data:`` sections of a spec: how a model is trained, and on what. Torch-free.

``training`` names a loss, an optimizer and a schedule (registered components, like the model's parts)
and the learning parameters of the seed guide (its section 2.3: batch size, learning rate, epochs);
``data`` names the corpora and the tokenizer. Both are validated with the model, with located errors;
:func:`training_issues` checks what needs the model too (the objective fits the model, the sequence
length fits ``max_len``, the micro-batch divides the batch).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from blockforge.errors import SpecIssue, SpecPath
from blockforge.spec.params import Params, Ref

LossRef = Ref("loss")
OptimizerRef = Ref("optimizer")
ScheduleRef = Ref("schedule")

PositiveInt = Annotated[int, Field(gt=0, le=1 << 40)]


class TrainingSpec(Params):
    """How the model is trained: objective, optimiser, learning-rate schedule and the learning parameters."""

    loss: LossRef = "next_token"
    """The objective: ``next_token`` (causal LM), ``masked_lm`` (BERT), ``classification``; see
    ``blockforge components loss``."""
    optimizer: OptimizerRef = "adamw"
    """The optimiser and its learning rate ``lr``: ``sgd`` (mini-batch SGD, momentum, Nesterov), ``adam``,
    ``adamw``; see ``blockforge components optimizer``."""
    schedule: ScheduleRef = "constant"
    """How the learning rate moves over the run: ``constant``, ``cosine``, ``wsd``, ``inverse_sqrt``."""
    batch_size: PositiveInt = 8
    """Global batch: sequences per optimizer step (all micro-batches and, when distributed, all ranks)."""
    micro_batch_size: PositiveInt | None = None
    """Sequences per forward/backward; gradients of ``batch_size / micro_batch_size`` micro-batches are
    accumulated. Null: the whole batch at once."""
    seq_len: PositiveInt | None = None
    """Tokens per training sequence; null: the model's ``max_len``."""
    steps: PositiveInt | None = None
    """Optimizer steps of the run (``--steps`` overrides). Give ``steps`` or ``epochs``."""
    epochs: Annotated[float, Field(gt=0.0, le=1e6)] | None = None
    """Passes over the training split, when ``steps`` is null (rounded up to whole steps)."""
    grad_clip: Annotated[float, Field(gt=0.0, le=1e6)] | None = 1.0
    """Clip the global gradient norm to this value (``torch.nn.utils.clip_grad_norm_``); null: no clipping."""
    precision: Literal["float32", "bfloat16"] = "float32"
    """``float32``, or ``bfloat16`` autocast of the forward (weights and optimizer state stay float32)."""
    activation_checkpointing: bool = False
    """Recompute each block's activations in the backward instead of keeping them (less memory, ~1/3 more compute)."""
    compile: bool = False
    """Run the model through ``torch.compile``."""
    seed: Annotated[int, Field(ge=0, lt=1 << 63)] = 0
    """Seed of the initialisation, the data order, the held-out split and dropout."""
    log_every: PositiveInt = 1
    """Write a ``metrics.jsonl`` line every this many steps."""
    eval_every: PositiveInt | None = None
    """Validation loss and perplexity every this many steps (and at the end); null: only at the end."""
    eval_batches: PositiveInt = 8
    """Batches of held-out sequences per evaluation (at most the whole held-out split)."""
    checkpoint_every: PositiveInt | None = None
    """Write a checkpoint every this many steps (and at the end); null: only at the end."""
    keep_checkpoints: PositiveInt = 2
    """How many checkpoints to keep (the oldest are deleted)."""


class DataSource(Params):
    """One corpus: a file or folder of a given format, or a corpus shipped by an installed package."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"format": "text", "path": "corpus.txt"}]})

    format: Literal["text", "lines", "jsonl", "conversations", "chatterbot", "chitchat"]
    """``text``: each file is a document; ``lines``: each non-empty line is one; ``jsonl``: one JSON object per
    line, text in ``field`` (and a class in ``label_field`` for classification); ``conversations``: JSONL of
    ``{"messages": [{"role": "user"|"assistant"|"system", "content": ...}, ...]}`` rendered with the chat
    template; ``chatterbot``: the dialogues of the ``chatterbot-corpus`` package (BSD-3-Clause, ~1k short
    dialogues per language); ``chitchat``: the ~7k conversations of the ``chitchat-dataset`` package (MIT,
    BYU's Chit-Chat Challenge). The last two need no ``path`` (``pip install 'blockforge[train]'``)."""
    path: str | None = None
    """A file, or a folder whose files (sorted by name) are all read; relative to the working directory."""
    field: str = "text"
    """``jsonl``: the key holding the text."""
    label_field: str = "label"
    """``jsonl``: the key holding the class (an integer), for a classification objective."""
    language: str = "english"
    """``chatterbot``: the corpus language folder (``english``, ``korean``, ...)."""
    limit: PositiveInt | None = None
    """Read only the first ``limit`` documents of this source (null: all)."""


class TokenizerSpec(Params):
    """The tokenizer (HF ``tokenizers``): trained on the training split, or loaded from a file."""

    type: Literal["bpe", "wordpiece", "file"] = "bpe"
    """``bpe``: byte-level BPE (GPT-2's) trained to the model's ``vocab_size``; ``wordpiece``: BERT's
    WordPiece trained likewise; ``file``: a ``tokenizer.json`` at ``path``."""
    path: str | None = None
    """``file``: the ``tokenizer.json`` to load (its vocabulary size must equal the model's)."""
    min_frequency: PositiveInt = 2
    """Trained tokenizers: a merge or word piece must occur this often."""
    lowercase: bool = False
    """Trained tokenizers: lowercase the text first."""


class DataSpec(Params):
    """What the model is trained on: corpora, tokenizer, held-out split."""

    sources: list[DataSource] = Field(default_factory=list, max_length=10_000)
    """The corpora (``blockforge train --data PATH`` replaces them)."""
    tokenizer: TokenizerSpec = Field(default_factory=TokenizerSpec)
    """How text becomes token ids."""
    validation: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.05
    """Fraction of the documents held out for validation (chosen by the training seed)."""
    shuffle: bool = True
    """Visit the training sequences in a new seeded order every epoch (else in corpus order)."""


# ---------------------------------------------------------------------------------------------------
# Checks that need the model as well.

Objective = Literal["next_token", "masked", "classification"]


def _sees_future(params: Any) -> bool | None:
    """Whether a mixer lets a position see later positions, by its declared parameters (``causal: false``,
    ``bidirectional: true``); None when its parameters do not say."""
    if getattr(params, "bidirectional", None) is True:
        return True
    causal = getattr(params, "causal", None)
    return None if causal is None else not causal


def _mixers(model: Any) -> Iterator[tuple[int, str, Any]]:
    """``(layer, path inside the layer, params)`` of every sequence mixer of the model's resolved layers."""
    from blockforge.spec.plan import LayerStack

    if not isinstance(model, LayerStack):
        return
    for i, block in enumerate(model.layers()):
        for name in type(block).model_fields:
            value = getattr(block, name)
            if getattr(type(value), "__blockforge_kind__", None) == "attention" and getattr(
                type(value), "uses_positions", None
            ) != "cross":
                yield i, name, value


def _issue(doc: Any, path: SpecPath, message: str, hint: str | None, code: str = "training") -> SpecIssue:
    return SpecIssue(path, message, doc.locate(path), hint, code)


def training_issues(spec: BaseModel, doc: Any) -> list[SpecIssue]:
    """The problems of the ``training`` and ``data`` sections that need the model to see.

    Checked: the objective fits the model (``next_token`` needs a causal model with a token-logits head;
    ``masked`` a model that sees both sides, with a token-logits head; ``classification`` a class head),
    ``seq_len`` fits ``max_len``, ``micro_batch_size`` divides ``batch_size``, ``steps`` and ``epochs`` are
    not both given, a ``file`` tokenizer has a path and a data source has a path unless it needs none.

    Args:
        spec: a validated spec (an instance of the bound ``SpecFile``).
        doc: its document, for locations (anything with ``locate(path)``).

    Returns:
        The issues, each located.
    """
    issues: list[SpecIssue] = []
    training = getattr(spec, "training", None)
    data = getattr(spec, "data", None)
    model = getattr(spec, "model", None)
    if data is not None:
        if data.tokenizer.type == "file" and data.tokenizer.path is None:
            issues.append(_issue(doc, ("data", "tokenizer"), "a file tokenizer needs 'path'",
                                 "path: path/to/tokenizer.json"))
        for i, src in enumerate(data.sources):
            if src.format not in ("chatterbot", "chitchat") and src.path is None:
                issues.append(_issue(doc, ("data", "sources", i), f"a {src.format} source needs 'path'",
                                     "a file or a folder of files"))
    if training is None or model is None:
        return issues
    t = training
    if t.micro_batch_size is not None and t.batch_size % t.micro_batch_size:
        issues.append(_issue(doc, ("training", "micro_batch_size"),
                             f"micro_batch_size {t.micro_batch_size} does not divide batch_size {t.batch_size}",
                             "gradients are accumulated over batch_size / micro_batch_size micro-batches; use a "
                             "divisor of batch_size"))
    if t.steps is not None and t.epochs is not None:
        issues.append(_issue(doc, ("training", "epochs"), "give steps or epochs, not both",
                             "steps counts optimizer steps; epochs passes over the training split"))
    max_len = getattr(model, "max_len", None)
    if t.seq_len is not None and max_len is not None and t.seq_len > max_len:
        issues.append(_issue(doc, ("training", "seq_len"), f"seq_len {t.seq_len} exceeds the model's max_len {max_len}",
                             f"use seq_len <= {max_len}, or raise model.max_len"))
    issues.extend(_objective_issues(model, t.loss, doc))
    return issues


def _objective_issues(model: Any, loss: Any, doc: Any) -> list[SpecIssue]:
    objective: str | None = getattr(type(loss), "objective", None)
    lname = getattr(type(loss), "__blockforge_name__", "?")
    path = ("training", "loss")
    if objective is None:
        return []
    if not hasattr(model, "layers") or getattr(model, "decoder_block", None) is not None:
        mname = getattr(type(model), "__blockforge_name__", "?")
        return [_issue(doc, ("model", "type"), f"training a {mname} model is not supported",
                       "train a decoder-only lm (next_token) or an encoder (masked_lm, classification)")]
    produces = getattr(type(getattr(model, "head", None)), "produces", None)
    want = "class_logits" if objective == "classification" else "token_logits"
    if produces is not None and produces != want:
        what = "a class head: head: {type: classifier, classes: N}" if want == "class_logits" else (
            "token logits: head: lm")
        return [_issue(doc, path, f"the {lname} loss needs a model whose head gives {what.split(':')[0]}, "
                       f"but this model's head gives {produces.replace('_', ' ')}", f"use {what}")]
    seeing = [(i, name) for i, name, p in _mixers(model) if _sees_future(p)]
    n_layers = len(model.layers())
    if objective == "next_token" and seeing:
        i, name = seeing[0]
        where = f"layer {i} ({name})" + (f" and {len(seeing) - 1} more" if len(seeing) > 1 else "")
        return [_issue(doc, path, f"the {lname} loss needs a causal model, but {where} sees later positions: "
                       "it would learn to copy the answer", "make the model causal (attention: {causal: true}, "
                       "unidirectional recurrent mixers), or train it with masked_lm", "objective")]
    if objective == "masked":
        blind = [i for i, name, p in _mixers(model) if _sees_future(p) is False]
        if blind and len(blind) == n_layers:
            return [_issue(doc, path, f"the {lname} loss needs a model that sees both sides of a masked token, "
                           "but every layer of this model is causal", "train a causal model with next_token, or "
                           "make its attention bidirectional (causal: false)", "objective")]
    return []


__all__ = ["DataSource", "DataSpec", "Objective", "TokenizerSpec", "TrainingSpec", "training_issues"]
