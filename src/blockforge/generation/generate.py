"""``blockforge.generate``: autoregressive decoding of a compiled model, with a cache when every mixer has one."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from blockforge.components.cache import cache_unsupported
from blockforge.errors import BlockforgeError
from blockforge.generation.sampling import next_token


class Streamer(Protocol):
    """Receives tokens as they are generated (transformers' streamer protocol, without the prompt)."""

    def put(self, value: Tensor) -> None:
        """``value``: ``(B,)`` the tokens just chosen (rows already finished get the pad token)."""

    def end(self) -> None:
        """Generation has finished."""


class GenerationError(BlockforgeError, ValueError):
    """Arguments that cannot be generated with (lengths beyond ``max_len``, right padding, bad values)."""


class CacheFallbackWarning(UserWarning):
    """Generation recomputes the whole context each step: a block or mixer declares no cache support."""


def generate(
    model: nn.Module,
    input_ids: Tensor,
    attention_mask: Tensor | None = None,
    *,
    max_new_tokens: int,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    repetition_penalty: float = 1.0,
    eos_token_id: int | Sequence[int] | None = None,
    pad_token_id: int | None = None,
    seed: int | None = None,
    streamer: Streamer | None = None,
    stop_sequences: Sequence[Sequence[int]] = (),
    stop_strings: Sequence[str] = (),
    tokenizer: Any = None,
    decoder_start_token_id: int | None = None,
    use_cache: bool = True,
    cache_implementation: str = "dynamic",
) -> Tensor:
    """Continue each row of ``input_ids`` by up to ``max_new_tokens`` tokens.

    Decoding runs the prompt once, then one position per step with a cache of keys/values (and recurrent
    states) when every block and mixer supports one (``supports_cache``); otherwise it recomputes the whole
    context at each step and warns once (:class:`CacheFallbackWarning`). Only the last position's logits
    are computed (the head runs on it alone). Positions follow ``attention_mask``, so left-padded batches
    give each row the tokens it would get alone.

    Args:
        model: a compiled ``lm`` (causal) or ``encoder_decoder`` model with an LM head.
        input_ids: ``(B, T)`` prompts; for an encoder-decoder model, the source sequences.
        attention_mask: ``(B, T)`` 1 for tokens, 0 for padding, which must be on the left (decoder-only).
        max_new_tokens: tokens to generate at most (>= 1).
        do_sample: sample (with ``temperature``, ``top_k``, ``top_p``) instead of greedy decoding.
        temperature: > 0, divides the logits before sampling.
        top_k: sample among the ``top_k`` most likely tokens (0 = all).
        top_p: nucleus sampling mass in ``(0, 1]`` (1.0 = all).
        repetition_penalty: CTRL's penalty (> 0; 1.0 = none) on tokens present in the row.
        eos_token_id: token(s) that end a row; None never ends early.
        pad_token_id: written after a row has ended (default: the first ``eos_token_id``, else 0).
        seed: seed of the sampling generator (None: torch's global generator).
        streamer: gets each step's tokens (``put``) and the end (``end``).
        stop_sequences: token sequences that end a row once its continuation ends with one of them.
        stop_strings: texts that end a row once its decoded continuation contains one (needs ``tokenizer``).
        tokenizer: a ``tokenizers.Tokenizer`` (``decode``), for ``stop_strings``.
        decoder_start_token_id: the first decoder token of an encoder-decoder model (required for one).
        use_cache: decode incrementally with a cache (when supported); False recomputes every step.
        cache_implementation: ``dynamic`` (keys and values grow per step; a sliding window keeps a rolling
            cache of the window) or ``static`` (preallocated for prompt + ``max_new_tokens`` positions).

    Returns:
        ``(B, T + N)`` prompts and continuations for a decoder-only model; ``(B, 1 + N)`` decoder tokens
        (the start token first) for an encoder-decoder model. ``N <= max_new_tokens``: generation stops
        early when every row has ended.

    Raises:
        GenerationError: invalid values, padding on the right of a prompt, a length beyond ``max_len``,
            or a model that cannot generate (no LM head, bidirectional).
    """
    _check_args(input_ids, attention_mask, max_new_tokens, temperature, top_k, top_p, repetition_penalty,
                stop_strings, tokenizer)
    encdec = bool(getattr(model, "is_encoder_decoder", False))
    b, t = input_ids.shape
    device = input_ids.device
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    attention_mask = attention_mask.to(device=device, dtype=torch.long)
    if encdec:
        if decoder_start_token_id is None:
            raise GenerationError("an encoder-decoder model needs decoder_start_token_id (the first decoder "
                                  "token; its generation defaults can store it)")
        tokens = torch.full((b, 1), decoder_start_token_id, dtype=torch.long, device=device)  # (B, 1)
    else:
        if not bool(attention_mask[:, -1].all()):
            raise GenerationError("generation needs left padding: every prompt's last position must be a token "
                                  "(attention_mask[:, -1] == 1)")
        tokens = input_ids
    _check_causal(model)
    max_len = getattr(model, "max_len", None)
    if max_len is not None and tokens.shape[1] + max_new_tokens > max_len:
        raise GenerationError(f"{tokens.shape[1]} prompt positions + max_new_tokens={max_new_tokens} exceed "
                              f"max_len={max_len} of this model")
    eos = [eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id or [])
    pad = pad_token_id if pad_token_id is not None else (eos[0] if eos else 0)
    if cache_implementation not in ("dynamic", "static"):
        raise GenerationError(f"cache_implementation={cache_implementation!r}: use 'dynamic' or 'static'")
    capacity = tokens.shape[1] + max_new_tokens if cache_implementation == "static" else None
    cache = _new_cache(model, capacity) if use_cache else None
    generator = None
    if do_sample and seed is not None:
        generator = torch.Generator(device=device).manual_seed(seed)
    dec_mask = torch.ones_like(tokens) if encdec else attention_mask  # (B, T) mask of ``tokens``
    finished = torch.zeros(b, dtype=torch.bool, device=device)
    eos_t = torch.tensor(eos, dtype=torch.long, device=device)
    stops = [torch.tensor(list(s), dtype=torch.long, device=device) for s in stop_sequences if len(s)]
    start = tokens.shape[1]
    seen = None
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            logits = _step(model, input_ids, attention_mask, tokens, dec_mask, cache, encdec, first=True)
            if repetition_penalty != 1.0:
                vocab = logits.shape[-1]
                seen = torch.zeros(b, vocab, dtype=torch.bool, device=device)
                seen.scatter_(1, tokens.clamp(0, vocab - 1), dec_mask.bool())  # prompt (decoder) tokens, no padding
            for _ in range(max_new_tokens):
                new = next_token(logits, seen=seen, do_sample=do_sample, temperature=temperature, top_k=top_k,
                                 top_p=top_p, repetition_penalty=repetition_penalty, generator=generator)  # (B,)
                new = torch.where(finished, torch.full_like(new, pad), new)
                tokens = torch.cat((tokens, new[:, None]), 1)  # (B, T + 1)
                dec_mask = torch.cat((dec_mask, torch.ones_like(new)[:, None]), 1)
                if seen is not None:
                    seen.scatter_(1, new[:, None], True)
                if streamer is not None:
                    streamer.put(new)
                if eos:
                    finished |= torch.isin(new, eos_t)
                for stop in stops:
                    n = stop.numel()
                    if tokens.shape[1] - start >= n:
                        finished |= (tokens[:, -n:] == stop).all(-1)
                if stop_strings:
                    finished |= _stop_strings_hit(tokens[:, start:], stop_strings, tokenizer, finished)
                if bool(finished.all()) or tokens.shape[1] - start == max_new_tokens:
                    break
                logits = _step(model, input_ids, attention_mask, tokens, dec_mask, cache, encdec, first=False)
    finally:
        model.train(was_training)
        if streamer is not None:
            streamer.end()
    return tokens


def _check_args(input_ids: Tensor, attention_mask: Tensor | None, max_new_tokens: int, temperature: float,
                top_k: int, top_p: float, repetition_penalty: float, stop_strings: Sequence[str],
                tokenizer: Any) -> None:
    if input_ids.dim() != 2 or input_ids.shape[1] == 0:
        raise GenerationError(f"input_ids must be (batch, seq_len) with seq_len >= 1, got {tuple(input_ids.shape)}")
    if attention_mask is not None and attention_mask.shape != input_ids.shape:
        raise GenerationError(f"attention_mask shape {tuple(attention_mask.shape)} does not match input_ids "
                              f"shape {tuple(input_ids.shape)}")
    problems = [
        f"{name}={value!r} ({rule})"
        for name, value, ok, rule in (
            ("max_new_tokens", max_new_tokens, max_new_tokens >= 1, "at least 1"),
            ("temperature", temperature, 0 < temperature < float("inf"), "a finite number > 0"),
            ("top_k", top_k, top_k >= 0, "0 (all) or more"),
            ("top_p", top_p, 0 < top_p <= 1, "in (0, 1]"),
            ("repetition_penalty", repetition_penalty, 0 < repetition_penalty < float("inf"), "a finite number > 0"),
        )
        if not ok
    ]
    if stop_strings and tokenizer is None:
        problems.append("stop_strings need a tokenizer to decode the continuation")
    if problems:
        raise GenerationError("cannot generate: " + "; ".join(problems))


def _check_causal(model: nn.Module) -> None:
    """Refuse a decoding stack with a mixer that declares itself bidirectional (``causal = False`` attention,
    a ``bidirectional`` recurrence): it was built to see later positions, which generation never has.

    Raises:
        GenerationError: naming the bidirectional modules.
    """
    stack = getattr(model, "cache_blocks", None)
    if stack is None:
        return
    prefix = next((name for name, child in model.named_children() if child is stack), "")
    both_ways = [f"{name} ({type(m).__name__})" for name, m in stack.named_modules(prefix=prefix)
                 if getattr(m, "blockforge_kind", None) == "attention"
                 and (getattr(m, "causal", None) is False or getattr(m, "bidirectional", None) is True)]
    if both_ways:
        raise GenerationError(f"cannot generate with a bidirectional model: {', '.join(both_ways[:3])}"
                              f"{' ...' if len(both_ways) > 3 else ''} attend to later positions; generation "
                              "needs causal mixers (attention with causal: true, unidirectional LSTM/GRU)")


def _new_cache(model: nn.Module, capacity: int | None) -> Any:
    """The model's cache, or None (with one warning) when a block or mixer has no cache support."""
    stack = getattr(model, "cache_blocks", None)
    new_cache = getattr(model, "new_cache", None)
    if stack is None or new_cache is None:
        warnings.warn(f"{type(model).__name__} has no incremental decoding (no new_cache): generation "
                      "recomputes the whole context at every step", CacheFallbackWarning, stacklevel=3)
        return None
    if not getattr(model, "positional_takes_ids", True):
        warnings.warn(f"the positional encoding {type(model.positional).__name__} takes no position_ids, so "
                      "positions cannot continue across cached steps: generation recomputes the whole context "
                      "at every step (and a left-padded batch gets shifted absolute positions)",
                      CacheFallbackWarning, stacklevel=3)
        return None
    prefix = next((name for name, child in model.named_children() if child is stack), "")
    missing = cache_unsupported(stack, prefix)
    if missing:
        warnings.warn(f"no cache support in {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}: "
                      "generation recomputes the whole context at every step", CacheFallbackWarning, stacklevel=3)
        return None
    return new_cache() if capacity is None else new_cache(capacity=capacity)


def _step(model: nn.Module, input_ids: Tensor, attention_mask: Tensor, tokens: Tensor, dec_mask: Tensor,
          cache: Any, encdec: bool, *, first: bool) -> Tensor:
    """Logits ``(B, V)`` of the next token after ``tokens``."""
    if cache is not None and not first:
        new, new_mask = tokens[:, -1:], dec_mask[:, -1:]  # (B, 1)
    else:
        new, new_mask = tokens, dec_mask
    if encdec:
        out = model(input_ids, attention_mask, decoder_ids=new, decoder_mask=new_mask, cache=cache,
                    logits_to_keep=1)
    else:
        out = model(new, new_mask, cache=cache, logits_to_keep=1)
    if out.dim() != 3:
        raise GenerationError(f"the model's head returns shape {tuple(out.shape)}; generation needs an LM head "
                              "(batch, seq_len, vocab_size)")
    return out[:, -1]  # (B, V)


def _stop_strings_hit(continuation: Tensor, stop_strings: Sequence[str], tokenizer: Any, finished: Tensor) -> Tensor:
    """Rows whose decoded continuation contains a stop string (rows already finished are skipped)."""
    hit = torch.zeros_like(finished)
    for row, ids in enumerate(continuation.tolist()):
        if not bool(finished[row]):
            text = tokenizer.decode(ids, skip_special_tokens=False)
            hit[row] = any(s in text for s in stop_strings)
    return hit


__all__ = ["CacheFallbackWarning", "GenerationError", "Streamer", "generate"]
