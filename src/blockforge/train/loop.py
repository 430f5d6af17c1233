"""The training loop: a spec's ``training`` and ``data`` sections turned into a run directory.

The seed guide's section 13 end to end: text -> tokens -> integers (:mod:`blockforge.data`), embedding and
positions, the blocks, the softmax over the vocabulary inside the cross-entropy (the loss component), and
section 2: the loss, the optimiser (mini-batch SGD, Adam, AdamW) and the learning parameters (batch size,
learning rate, epochs).

One optimizer step reads ``batch_size`` windows (:class:`~blockforge.data.windows.Order`), this rank's share
of them (:meth:`Strategy.shard`) in micro-batches of ``micro_batch_size``; each micro-batch's mean loss is
weighted by its share of the step's scored tokens, so accumulated gradients equal those of one large batch.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import shutil
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from blockforge.errors import BlockforgeError, SpecError, SpecIssue
from blockforge.registry.context import TrainContext
from blockforge.registry.registry import Registries
from blockforge.train import checkpoint as ckpt
from blockforge.train.metrics import MetricsLog, plot_loss_curve
from blockforge.train.progress import Reporter
from blockforge.train.strategy import Strategy

IGNORE = -100


class TrainError(BlockforgeError):
    """A run cannot start or continue (no data, a checkpoint of another model, ...)."""


@dataclass(frozen=True)
class RunShape:
    """The numbers of a run, resolved from the spec and the command line.

    Attributes:
        batch_size: sequences per optimizer step, all ranks together.
        micro_batch_size: sequences per forward/backward.
        accumulation: micro-batches per step on each rank.
        seq_len: tokens per model input.
        steps: optimizer steps of the whole run.
    """

    batch_size: int
    micro_batch_size: int
    accumulation: int
    seq_len: int
    steps: int


@dataclass
class RunResult:
    """What a finished (or interrupted) run leaves.

    Attributes:
        run_dir: the run directory (a model directory plus ``state/``).
        step: the last completed step.
        interrupted: stopped by Ctrl-C (a checkpoint was written).
        records: the metrics records of this process's steps.
    """

    run_dir: Path
    step: int
    interrupted: bool = False
    records: list[dict[str, Any]] = field(default_factory=list)


def _bound(registries: Registries, cls: type, value: Any) -> Any:
    from blockforge.spec.binding import bind

    return bind(cls, registries).model_validate(value if value is not None else {})


def _component(registries: Registries, ref: Any, ctx: TrainContext) -> Any:
    kind, name = type(ref).__blockforge_kind__, type(ref).__blockforge_name__
    comp = registries[kind].get(name)
    try:
        return comp.factory(ref, ctx)
    except BlockforgeError:
        raise
    except Exception as exc:
        raise TrainError(f"building {kind} component {name!r} (from {comp.owner}) failed: {exc}") from exc


def _fingerprint(tokens: Tensor) -> str:
    """SHA-256 of the training windows: a resumed run must read the same token sequence."""
    import hashlib

    return hashlib.sha256(tokens.contiguous().numpy().tobytes()).hexdigest()


def _checkpointed(forward: Any, *args: Any, **kwargs: Any) -> Any:
    from torch.utils.checkpoint import checkpoint

    return checkpoint(forward, *args, use_reentrant=False, **kwargs)


def apply_activation_checkpointing(model: nn.Module) -> int:
    """Recompute every block's activations in the backward pass (``torch.utils.checkpoint``, non-reentrant).

    The blocks keep their names (the forward is wrapped on the instance), so state dicts are unchanged.

    Args:
        model: a built model (its blocks carry ``blockforge_kind == "block"``).

    Returns:
        The number of blocks wrapped.
    """
    n = 0
    for m in model.modules():
        if getattr(m, "blockforge_kind", None) == "block":
            m.forward = functools.partial(_checkpointed, m.forward)  # type: ignore[method-assign]
            n += 1
    return n


class _Interrupt:
    """The first Ctrl-C asks the loop to stop after the current step (and write a checkpoint); a second one
    interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._old: Any = None

    def __enter__(self) -> _Interrupt:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: Any) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


class Trainer:
    """Trains the model of a validated spec.

    Args:
        spec: a validated spec (``SpecFile``) with a ``training`` and ``data`` section (defaults if absent).
        run_dir: the run directory.
        document: the spec's document, to locate errors found while setting up (vocabulary size), or None.
        registries: where the spec's components resolve.
        strategy: how the run is spread over processes (:class:`Strategy`: one process).
        reporter: progress display.
        steps: overrides the run length (``--steps``).
        resume: continue from the newest checkpoint in ``run_dir``.

    Raises:
        SpecError: the tokenizer's vocabulary does not match the model's (located at ``model.vocab_size``).
        TrainError, DataError: no data, a checkpoint of another model.
    """

    def __init__(self, spec: Any, *, run_dir: str | Path, document: Any = None, registries: Registries,
                 strategy: Strategy | None = None, reporter: Reporter | None = None, steps: int | None = None,
                 resume: bool = False) -> None:
        from blockforge.spec.training import DataSpec, TrainingSpec

        self.spec = spec
        self.document = document
        self.registries = registries
        self.run_dir = Path(run_dir)
        self.strategy = strategy or Strategy()
        self.reporter = reporter or Reporter()
        self.training = spec.training if spec.training is not None else _bound(registries, TrainingSpec, None)
        self.data = spec.data if spec.data is not None else _bound(registries, DataSpec, None)
        self.objective: str = getattr(type(self.training.loss), "objective", "next_token")
        self.resume_from = self._latest_checkpoint() if resume else None
        self._steps_override = steps

    # ------------------------------------------------------------------------------------------ set-up

    def _latest_checkpoint(self) -> Path:
        found = ckpt.checkpoints(self.run_dir)
        if not found:
            raise TrainError(f"--resume: {self.run_dir} holds no complete checkpoint (checkpoints/step-*/state/"
                             f"{ckpt.TRAINER_FILE})")
        return found[-1]

    def _located(self, path: tuple[str, ...], message: str, hint: str) -> SpecError:
        from blockforge.errors import Location

        loc = self.document.locate(path) if self.document is not None else Location("<spec>")
        return SpecError([SpecIssue(path, message, loc, hint, "training")])

    def _tokenizer(self, train_docs: Sequence[Any]) -> Any:
        from blockforge.data.tokenizer import load_tokenizer, train_tokenizer
        from blockforge.data.windows import doc_text

        vocab = self.spec.model.vocab_size
        tspec = self.data.tokenizer
        if self.resume_from is not None:
            tok = load_tokenizer(str(self.resume_from / "tokenizer.json"))
        elif tspec.type == "file":
            tok = load_tokenizer(tspec.path)
        else:
            tok = train_tokenizer(tspec, (doc_text(d) for d in train_docs), vocab_size=vocab, count=len(train_docs))
        got = tok.get_vocab_size(with_added_tokens=True)
        if got != vocab:
            if tspec.type == "file" or self.resume_from is not None:
                hint = f"set model.vocab_size: {got} (the tokenizer's size)"
            else:
                hint = (f"the corpus supports {got} tokens at min_frequency {tspec.min_frequency}: set "
                        f"model.vocab_size: {got}, lower data.tokenizer.min_frequency, or add text")
            raise self._located(("model", "vocab_size"),
                                f"the model's vocab_size {vocab} does not match the tokenizer's {got} tokens", hint)
        return tok

    def _shape(self, n_windows: int) -> RunShape:
        from blockforge.errors import Location
        from blockforge.spec.parallel import rank_batches

        t = self.training
        # the global batch is batch_size on any number of processes; each rank's share and its micro-batches
        # are derived (a batch that does not split is a located error)
        split = rank_batches(global_batch=t.batch_size, world_size=self.strategy.world_size,
                             micro_batch=t.micro_batch_size,
                             locate=self.document.locate if self.document is not None else lambda _p: Location("<spec>"))
        seq_len = t.seq_len or self.spec.model.max_len
        if self._steps_override is not None:
            steps = self._steps_override
        elif t.steps is not None:
            steps = t.steps
        elif t.epochs is not None:
            steps = max(1, math.ceil(t.epochs * n_windows / t.batch_size))
        else:
            raise self._located(("training",), "the run length is not given",
                                "set training.steps or training.epochs, or pass --steps N")
        return RunShape(t.batch_size, split.micro_batch, split.accumulation, seq_len, steps)

    def setup(self) -> None:
        """Read and tokenise the data, build the model, loss, optimizer and schedule; restore a checkpoint."""
        from blockforge.build import build_model
        from blockforge.data.chat import chat_template
        from blockforge.data.corpus import read_sources
        from blockforge.data.tokenizer import special_ids
        from blockforge.data.windows import Order, make_windows, split_documents

        t = self.training
        docs = read_sources(self.data.sources, objective=self.objective)
        train_docs, val_docs = split_documents(docs, fraction=self.data.validation, seed=t.seed)
        self.tokenizer = self._tokenizer(train_docs)
        self.specials = special_ids(self.tokenizer)
        self.template = chat_template() if self.tokenizer.token_to_id("<|end|>") is not None else None
        probe_len = t.seq_len or self.spec.model.max_len
        extra = 1 if self.objective == "next_token" else 0
        kw = {"seq_len": probe_len, "extra": extra, "specials": self.specials,
              "classification": self.objective == "classification", "template": self.template}
        self.train_windows = make_windows(train_docs, self.tokenizer, **kw)
        self.val_windows = make_windows(val_docs, self.tokenizer, **kw)
        self.shape = self._shape(len(self.train_windows))
        self.data_fingerprint = _fingerprint(self.train_windows.tokens)
        # every rank read, tokenised and packed the data itself: their windows must be the same
        self.strategy.check_same(self.data_fingerprint, what="training windows (data files or tokenizer)")
        self.order = Order(len(self.train_windows), seed=t.seed, shuffle=self.data.shuffle)

        device = self.strategy.device
        self.model = build_model(self.spec, registries=self.registries, device=device, seed=t.seed)
        self.step = 0
        self.tokens_seen = 0
        if self.resume_from is not None:
            self._load_weights(self.resume_from)
        if t.activation_checkpointing:
            apply_activation_checkpointing(self.model)
        self.module = self.strategy.wrap(self.model)
        if t.compile:
            self.module = torch.compile(self.module)
        ctx = TrainContext(model=self.model, model_context=self.spec.model.build_context(), steps=self.shape.steps)
        self.loss = _component(self.registries, t.loss, ctx)
        self.optimizer = _component(self.registries, t.optimizer, ctx)
        self.schedule = _component(self.registries, t.schedule, ctx)
        for g in self.optimizer.param_groups:
            g.setdefault("initial_lr", g["lr"])
        self.generators = {"masking": torch.Generator().manual_seed(t.seed + 1)}
        # dropout: a stream of its own on every rank (rank 0's is the one-process stream)
        torch.manual_seed(t.seed + 2 + ckpt.RANK_SEED_STRIDE * self.strategy.rank)
        if self.resume_from is not None:
            self._load_state(self.resume_from)

    def _load_weights(self, folder: Path) -> None:
        from blockforge.modeldir import load_model, read_spec

        _, digest = read_spec(folder, registries=self.registries)
        if digest != self.model.blockforge_hash:
            raise TrainError(f"--resume: {folder} holds a model of another architecture (spec {digest[:12]}..., "
                             f"this spec {self.model.blockforge_hash[:12]}...)")
        saved = load_model(folder, device=self.strategy.device, registries=self.registries)
        with torch.no_grad():
            self.model.load_state_dict(saved.state_dict())

    def _load_state(self, folder: Path) -> None:
        state = ckpt.read_trainer_state(folder / ckpt.STATE)
        if state.get("batch_size") != self.shape.batch_size or state.get("seq_len") != self.shape.seq_len:
            raise TrainError(f"--resume: the checkpoint was trained with batch_size {state.get('batch_size')} and "
                             f"seq_len {state.get('seq_len')}; this spec says {self.shape.batch_size} and "
                             f"{self.shape.seq_len}")
        if state.get("data_fingerprint") != self.data_fingerprint:
            raise TrainError(f"--resume: the training data differs from the data {folder.name} was trained on "
                             "(other files, another tokenizer or seq_len): the run would not continue the same "
                             "sequence; pass the same --data, or start a new run")
        self.strategy.load_state(folder / ckpt.STATE, self.model, self.optimizer)
        ckpt.load_rng(folder / ckpt.STATE, self.generators)
        if self.strategy.rank > 0:
            ckpt.load_rank_rng(folder / ckpt.STATE, self.strategy.rank,
                               seed=self.training.seed + 2 + ckpt.RANK_SEED_STRIDE * self.strategy.rank + int(state["step"]))
        self.step, self.tokens_seen = int(state["step"]), int(state["tokens"])

    # ------------------------------------------------------------------------------------------ steps

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.training.precision == "bfloat16":
            return torch.autocast(self.strategy.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _forward(self, batch: dict[str, Tensor]) -> Tensor:
        mask = batch["attention_mask"]
        return self.module(batch["input_ids"], None if bool(mask.all()) else mask)

    def _prepare(self, windows: Any, indices: Sequence[int], generator: torch.Generator) -> dict[str, Tensor]:
        raw = {k: v.to(self.strategy.device) for k, v in windows.batch(indices).items()}
        return self.loss.prepare(raw, generator=generator, special=self.specials)

    def _rank_batches(self, indices: Sequence[int]) -> list[dict[str, Tensor]]:
        """This rank's micro-batches of one step's windows, prepared by the loss (labels, masking).

        On several processes every rank prepares the whole global batch as one process would (in the
        configured micro-batches, from the same random stream) and keeps its rows: the tokens a masked-LM
        objective corrupts are then the same on any number of processes, and no two ranks draw alike.
        """
        generator, shape = self.generators["masking"], self.shape
        if self.strategy.world_size == 1:
            return [self._prepare(self.train_windows, indices[i: i + shape.micro_batch_size], generator)
                    for i in range(0, len(indices), shape.micro_batch_size)]
        size = self.training.micro_batch_size or shape.batch_size
        whole = [self._prepare(self.train_windows, indices[i: i + size], generator)
                 for i in range(0, len(indices), size)]
        rows = torch.as_tensor(self.strategy.shard(range(len(indices))), device=self.strategy.device)
        mine = {k: torch.cat([b[k] for b in whole]).index_select(0, rows) for k in whole[0]}
        return [{k: v[i: i + shape.micro_batch_size] for k, v in mine.items()}
                for i in range(0, len(rows), shape.micro_batch_size)]

    def train_step(self) -> dict[str, Any]:
        """One optimizer step: the step's windows in micro-batches, accumulated, clipped, applied.

        Returns:
            The step's record: ``step`` (completed steps), ``loss`` (the global batch's mean), ``lr``,
            ``tokens`` (seen so far, all ranks), ``grad_norm`` (before clipping, when clipping).
        """
        shape, s = self.shape, self.step
        factor = self.schedule(s)
        for g in self.optimizer.param_groups:
            g["lr"] = g["initial_lr"] * factor
        indices = self.order.indices(s * shape.batch_size, shape.batch_size)
        batches = self._rank_batches(indices)
        counts = [int((b["labels"] != IGNORE).sum()) for b in batches]
        total = float(self.strategy.all_reduce_sum(torch.tensor(float(sum(counts)))).item())
        scale = self.strategy.world_size if getattr(self.strategy, "averages_gradients", False) else 1
        self.module.train()
        step_loss = torch.zeros((), device=self.strategy.device)
        aux = getattr(self.model, "aux_loss", None)
        for i, b in enumerate(batches):
            with self.strategy.no_sync(self.module, last=i == len(batches) - 1):
                with self._autocast():
                    out = self._forward(b)  # (B, T, V) or (B, classes)
                    loss = self.loss(out, b["labels"], aux_loss=aux() if callable(aux) else None)
                weight = counts[i] / total if total > 0 else 0.0
                (loss * (weight * scale)).backward()
            step_loss += loss.detach().float() * weight
        step_loss = self.strategy.all_reduce_sum(step_loss)
        record: dict[str, Any] = {}
        if self.training.grad_clip is not None:
            record["grad_norm"] = float(self.strategy.clip_grad_norm(self.module, self.training.grad_clip))
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self.tokens_seen += shape.batch_size * shape.seq_len
        return {"step": self.step, "loss": float(step_loss), "lr": self.optimizer.param_groups[0]["lr"],
                "tokens": self.tokens_seen, **record}

    @torch.no_grad()
    def evaluate(self) -> dict[str, float] | None:
        """Cross-entropy (and perplexity) on up to ``eval_batches`` micro-batches of the held-out windows.

        Masked-LM choices use a generator seeded anew each time, so every evaluation scores the same tokens;
        the global random state is not touched (a resumed run stays bitwise equal).

        Returns:
            ``{"val_loss", "val_ppl"}``, or None without held-out windows.
        """
        # the configured micro-batch, not this rank's share: the score is the same on any number of processes
        # (every rank scores the same windows, so a sharded model's forward runs in step on all of them)
        size = self.training.micro_batch_size or self.training.batch_size
        n = min(len(self.val_windows), self.training.eval_batches * size)
        if n == 0:
            return None
        generator = torch.Generator().manual_seed(self.training.seed + 3)
        was_training = self.module.training
        self.module.eval()
        total, count = 0.0, 0
        for start in range(0, n, size):
            b = self._prepare(self.val_windows, range(start, min(n, start + size)), generator)
            with self._autocast():
                out = self._forward(b)
            labels = b["labels"].reshape(-1)
            total += float(F.cross_entropy(out.reshape(labels.shape[0], -1).float(), labels,
                                           ignore_index=IGNORE, reduction="sum"))
            count += int((labels != IGNORE).sum())
        self.module.train(was_training)
        if count == 0:
            return None
        val = total / count
        return {"val_loss": val, "val_ppl": math.exp(min(val, 80.0))}

    # ------------------------------------------------------------------------------------------ files

    def generation_config(self) -> Any:
        """Generation defaults for the model directory: end-of-turn and end-of-document stop generation.

        The chat template opens a conversation with the end-of-document token: in the packed training stream
        every conversation follows one, so a chat prompt starts the way the model saw conversations start.
        """
        from blockforge.data.chat import EOS
        from blockforge.modeldir import GenerationConfig

        eos = [i for i in (self.tokenizer.token_to_id("<|end|>"), self.specials.get("eos")) if i is not None]
        template = self.template
        if template is not None and self.tokenizer.token_to_id(EOS) is not None:
            template = template.model_copy(update={"bos": EOS})
        return GenerationConfig(eos_token_id=eos or None, pad_token_id=self.specials.get("pad"),
                                chat_template=template)

    def save_checkpoint(self) -> Path:
        """Write ``checkpoints/step-NNNNNNNN`` (model directory + ``state/``), atomically by renaming a finished
        folder into place, keep the newest ``keep_checkpoints``, and make the run directory itself the newest.

        Returns:
            The checkpoint folder.
        """
        from blockforge.modeldir import save_model

        root = self.run_dir / "checkpoints"
        final = root / f"step-{self.step:08d}"
        tmp = root / f".tmp-step-{self.step:08d}"
        if self.strategy.is_main:
            shutil.rmtree(tmp, ignore_errors=True)
            (tmp / ckpt.STATE).mkdir(parents=True)
        self.strategy.barrier()
        self.strategy.save_state(tmp / ckpt.STATE, self.model, self.optimizer)
        if not self.strategy.is_main:
            ckpt.save_rank_rng(tmp / ckpt.STATE, self.strategy.rank)
        whole = self.strategy.exportable(self.model)  # every rank (a sharded model is gathered to rank 0)
        if self.strategy.is_main:
            generation = self.generation_config()
            save_model(whole, tmp, tokenizer=self.tokenizer, generation=generation)
            ckpt.save_rng(tmp / ckpt.STATE, self.generators)
            ckpt.write_trainer_state(tmp / ckpt.STATE, {
                "step": self.step, "tokens": self.tokens_seen, "spec_hash": self.model.blockforge_hash,
                "batch_size": self.shape.batch_size, "seq_len": self.shape.seq_len, "steps": self.shape.steps,
                "samples_seen": self.step * self.shape.batch_size, "world_size": self.strategy.world_size,
                "data_fingerprint": self.data_fingerprint})
            if final.exists():
                shutil.rmtree(final)
            tmp.rename(final)
            ckpt.prune(self.run_dir, self.training.keep_checkpoints)
            save_model(whole, self.run_dir, tokenizer=self.tokenizer, generation=generation)
            state_tmp = self.run_dir / ".state.tmp"
            shutil.rmtree(state_tmp, ignore_errors=True)
            shutil.copytree(final / ckpt.STATE, state_tmp)
            shutil.rmtree(self.run_dir / ckpt.STATE, ignore_errors=True)
            state_tmp.rename(self.run_dir / ckpt.STATE)
        self.strategy.barrier()
        return final

    # ------------------------------------------------------------------------------------------ run

    def fit(self, *, until: int | None = None) -> RunResult:
        """Run from the current step to the last one, logging, evaluating and checkpointing on schedule.

        Args:
            until: stop after this step (a checkpoint is written; ``resume`` continues the same run), or
                None to run to the end.

        Returns:
            The result; ``interrupted`` when Ctrl-C stopped it (after writing a checkpoint).
        """
        t, shape = self.training, self.shape
        main = self.strategy.is_main
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        log = MetricsLog(self.run_dir, resume_step=self.step if self.resume_from is not None else None) if main else None
        result = RunResult(self.run_dir, self.step)
        if main:
            self.reporter.start(total=shape.steps, done=self.step)
        try:
            with _Interrupt() as interrupt:
                while self.step < min(shape.steps, until if until is not None else shape.steps):
                    t0 = time.perf_counter()
                    record = self.train_step()
                    record["tokens_per_s"] = shape.batch_size * shape.seq_len / max(time.perf_counter() - t0, 1e-9)
                    last = self.step == shape.steps
                    if t.eval_every and (self.step % t.eval_every == 0 or last) or (last and not t.eval_every):
                        ev = self.evaluate()
                        if ev:
                            record.update(ev)
                            if main:
                                self.reporter.message(f"step {self.step}: validation loss {ev['val_loss']:.4f}, "
                                                      f"perplexity {ev['val_ppl']:.2f}")
                    if main and (self.step % t.log_every == 0 or last or "val_loss" in record):
                        log.write({k: v for k, v in record.items() if k != "tokens_per_s"} |
                                  {"tokens_per_s": round(record["tokens_per_s"], 1)})
                    if main:
                        self.reporter.step(record)
                    result.records.append(record)
                    if self.strategy.any_rank(interrupt.requested):  # every rank stops at the same step
                        result.interrupted = True
                        break
                    if t.checkpoint_every and self.step % t.checkpoint_every == 0 and not last:
                        self.save_checkpoint()
        finally:
            if main:
                self.reporter.stop()
        self.save_checkpoint()
        if main:
            plot_loss_curve(self.run_dir)
            if result.interrupted:
                self.reporter.message(f"interrupted: checkpoint written at step {self.step}; continue with --resume")
        result.step = self.step
        return result


def data_overrides(paths: Sequence[str]) -> list[str]:
    """``--set`` overrides that replace ``data.sources`` with the given files or folders (format by extension)."""
    from blockforge.data.corpus import guess_source

    return [f"data.sources={json.dumps([guess_source(p) for p in paths])}"] if paths else []


def train(spec: Any = None, *, out: str | Path, data: Sequence[str] = (), steps: int | None = None,
          resume: bool = False, overrides: Sequence[str] = (), registries: Registries | None = None,
          strategy: Strategy | None = None, reporter: Reporter | None = None, until: int | None = None) -> RunResult:
    """Train the model of a spec and write the run directory.

    Args:
        spec: a spec path, mapping or validated spec; None: the packaged default.
        out: the run directory (a model directory ``generate``/``chat`` accept, plus ``state/``,
            ``checkpoints/``, ``metrics.jsonl``, ``loss-curve.png``).
        data: files or folders replacing ``data.sources`` (format by extension).
        steps: overrides the run length.
        resume: continue from the newest checkpoint in ``out``.
        overrides: ``key.path=VALUE`` overrides, as ``--set``.
        registries: defaults to the built-ins plus installed plugins.
        strategy: defaults to one process on the CPU.
        reporter: progress display (default: none).
        until: stop after this step with a checkpoint (the schedule still spans the whole run).

    Returns:
        The :class:`RunResult`.

    Raises:
        SpecError: invalid spec, objective/model mismatch, tokenizer/model vocabulary mismatch (located).
        TrainError, DataError: unusable data or checkpoint.
    """
    from blockforge.spec import load_document, validate_document

    if registries is None:
        from blockforge.registry.plugins import default_registries

        registries = default_registries()
    doc = load_document(spec, overrides=[*overrides, *data_overrides(data)]) if not hasattr(spec, "model") else None
    validated = validate_document(doc, registries) if doc is not None else spec
    trainer = Trainer(validated, run_dir=out, document=doc, registries=registries, strategy=strategy,
                      reporter=reporter, steps=steps, resume=resume)
    trainer.setup()
    return trainer.fit(until=until)
