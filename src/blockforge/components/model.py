"""Whole models: token ids in; logits, class scores or hidden states out.

How position information flows: the model calls its positional module on the embeddings
(absolute encodings add their table) and asks it once per forward for ``attention_positions(T)``
(RoPE rotations, ALiBi biases, or None), which it passes to every block as ``positions=``, always:
``block(x, mask=mask, positions=positions)``.

Positions follow the padding mask: with a mask that has padding, position ids are ``cumsum(mask) - 1``
clipped at 0 (as transformers computes them for left padding), so a padded row gives its tokens the
outputs of the unpadded row; callers may pass their own ``position_ids``. With a cache
(:class:`~blockforge.components.cache.ModelCache`, incremental decoding) ``ids`` and ``mask`` are the
new positions only and the positions continue each row's count of real tokens.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from blockforge.components.cache import ModelCache
from blockforge.components.positional import attention_positions, positions_from_mask, takes_position_ids


def aux_loss(model: nn.Module) -> Tensor | None:
    """The sum of the auxiliary losses (MoE load balancing) of the last forward, or None if there are none."""
    losses = [m.aux_loss for m in model.modules() if isinstance(getattr(m, "aux_loss", None), Tensor)]
    return torch.stack(losses).sum() if losses else None


def init_tied_table(embedding: nn.Module, head: nn.Module) -> None:
    """Initialise a token embedding that a tied LM head reuses as the output projection it also is.

    PyTorch initialises an ``nn.Embedding`` from N(0, 1), which suits an input table but not an output
    projection: tied logits ``h @ E^T`` of a normalised ``h`` then have a standard deviation of about
    ``sqrt(d_model)``, and a fresh model starts far above ``ln(vocab_size)`` (loss 324 for a 512-wide
    tied LM with a 32k vocabulary). The table is instead drawn as ``nn.Linear(d_model, vocab_size)``
    draws its weight (U(-1/sqrt(d_model), 1/sqrt(d_model)), Kaiming-uniform with a = sqrt(5)), so a tied
    head starts like an untied one (the seed's ``fc_out``). Untied tables keep N(0, 1).

    Args:
        embedding: the model's token embedding (an ``nn.Embedding`` with ``weight`` of shape ``(V, C)``).
        head: the model's head; nothing is done unless it is tied (``head.tied``).
    """
    weight = getattr(embedding, "weight", None)
    if not getattr(head, "tied", False) or not isinstance(weight, Tensor) or weight.dim() != 2:
        return
    bound = 1.0 / math.sqrt(weight.shape[1])
    with torch.no_grad():
        nn.init.uniform_(weight, -bound, bound)


_ID_DTYPES = (torch.int64, torch.int32)


def _check_ids(ids: Tensor, mask: Tensor | None, max_len: int, what: str = "ids", *,
               vocab_size: int | None = None, device: torch.device | None = None) -> None:
    """Refuse inputs that torch would turn into a deep error or a silent wrong result.

    Checks, each a ``ValueError`` naming the argument, the value and what is allowed: ``ids`` is a
    ``(batch, seq_len)`` tensor of ``int64``/``int32`` ids in ``0..vocab_size-1`` on the model's device, no
    longer than ``max_len``; ``mask`` has the same shape and holds only 0 and 1 (or is boolean). The range
    and mask checks read the values (one reduction; on an accelerator, one synchronisation); meta inputs
    carry no values, and a graph traced by ``torch.compile`` holds no value checks: both are checked for
    shape, dtype and device only.
    """
    if not isinstance(ids, Tensor):
        raise ValueError(f"{what} must be a torch.Tensor of token ids, shape (batch, seq_len), got "
                         f"{type(ids).__name__}; wrap it: torch.tensor({what}, dtype=torch.long)")
    if ids.dtype not in _ID_DTYPES:
        raise ValueError(f"{what} must hold integer token ids (torch.long or torch.int32), got {ids.dtype}")
    if ids.dim() != 2:
        raise ValueError(f"{what} must be (batch, seq_len), got shape {tuple(ids.shape)}")
    if ids.shape[1] > max_len:
        raise ValueError(f"sequence length {ids.shape[1]} exceeds max_len={max_len} of this model")
    if device is not None and ids.device != device and device.type != "meta":
        raise ValueError(f"{what} are on {ids.device} but the model is on {device}; move them: "
                         f"{what}.to({str(device)!r})")
    values = not ids.is_meta and not torch.compiler.is_compiling()  # compiled graphs hold no value checks
    if vocab_size is not None and values and ids.numel():
        lo, hi = (int(v) for v in torch.aminmax(ids))
        if lo < 0 or hi >= vocab_size:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{what} holds token id {bad}, outside 0..{vocab_size - 1} (vocab_size={vocab_size})")
    if mask is not None:
        _check_mask(mask, ids, what)


def _check_mask(mask: Tensor, ids: Tensor, what: str = "ids", name: str = "mask") -> None:
    if not isinstance(mask, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of 1 (token) and 0 (padding), got {type(mask).__name__}")
    if mask.shape != ids.shape:
        raise ValueError(f"{name} shape {tuple(mask.shape)} does not match {what} shape {tuple(ids.shape)}")
    if mask.device != ids.device:
        raise ValueError(f"{name} is on {mask.device} but {what} are on {ids.device}")
    if mask.dtype != torch.bool and not mask.is_meta and mask.numel() and not torch.compiler.is_compiling():
        ok = (mask == 0) | (mask == 1)
        if not bool(ok.all()):
            bad = mask[~ok].flatten()[0].item()
            raise ValueError(f"{name} must hold only 1 (token) and 0 (padding), found {bad}")


def _check_token_types(token_types: Tensor, ids: Tensor, embedding: nn.Module) -> None:
    table = getattr(embedding, "token_type", None)
    if table is None:
        return  # the embedding says why it takes none
    _check_ids(token_types, None, ids.shape[1], "token_types", vocab_size=table.num_embeddings, device=ids.device)
    if token_types.shape != ids.shape:
        raise ValueError(f"token_types shape {tuple(token_types.shape)} does not match ids shape {tuple(ids.shape)}")


def _model_device(model: nn.Module) -> torch.device | None:
    for p in model.parameters():
        return p.device
    return None


def _vocab_size(embedding: nn.Module) -> int | None:
    n = getattr(embedding, "num_embeddings", None)
    return n if isinstance(n, int) else None


def _head(head: nn.Module, x: Tensor, embedding: nn.Module, mask: Tensor | None) -> Tensor:
    if mask is None:
        return head(x, embedding=embedding)
    return head(x, embedding=embedding, mask=mask)


def _positions(
    ids: Tensor, mask: Tensor | None, position_ids: Tensor | None, cache: ModelCache | None, max_len: int
) -> Tensor | None:
    """The position ids of this forward: given, continued from a cache, from the mask, or None (0..T-1).

    Raises:
        ValueError: ``position_ids`` of the wrong shape, or a cache that would pass ``max_len``.
    """
    b, t = ids.shape
    if cache is not None:
        if cache.seen + t > max_len:
            raise ValueError(f"sequence length {cache.seen + t} exceeds max_len={max_len} of this model")
        pos = cache.next_positions(mask, b, t, ids.device)  # (B, T)
        cache.seen += t
        return pos if position_ids is None else position_ids
    if position_ids is not None:
        return position_ids
    if mask is not None:
        return positions_from_mask(mask)  # (B, T); 0..T-1 for a row without padding
    return None


def _check_positions(position_ids: Tensor | None, ids: Tensor) -> None:
    if position_ids is not None and position_ids.shape != ids.shape:
        raise ValueError(f"position_ids shape {tuple(position_ids.shape)} does not match ids shape "
                         f"{tuple(ids.shape)}")


class PositionsWarning(UserWarning):
    """A plugin positional encoding cannot follow the padding mask or a cache (it takes no ``position_ids``)."""


def _module_positions(model: nn.Module, mask: Tensor | None, position_ids: Tensor | None) -> Tensor | None:
    """The position ids the positional module gets: ``position_ids``, or None (``0 .. T-1``) for a plugin
    encoding that does not take them, with a warning when that moves a real token (padding before it, or
    decoding with a cache)."""
    if model.positional_takes_ids or position_ids is None:
        return position_ids
    if position_ids.is_meta:  # shapes only (summary's probe): nothing to check
        return None
    real = torch.ones_like(position_ids, dtype=torch.bool) if mask is None else mask.bool()  # (B, T)
    plain = torch.arange(position_ids.shape[1], device=position_ids.device)  # (T,)
    if bool(((position_ids != plain) & real).any()):
        warnings.warn(f"the positional encoding {type(model.positional).__name__} takes no position_ids, so "
                      "tokens after padding (or decoded with a cache) get positions 0..T-1 of this call, not "
                      "their own", PositionsWarning, stacklevel=3)
    return None


def _add_positions(positional: nn.Module, x: Tensor, position_ids: Tensor | None) -> Tensor:
    return positional(x) if position_ids is None else positional(x, position_ids=position_ids)


def _keep_last(x: Tensor, mask: Tensor | None, logits_to_keep: int) -> tuple[Tensor, Tensor | None]:
    if logits_to_keep <= 0:
        return x, mask
    return x[:, -logits_to_keep:], None if mask is None else mask[:, -logits_to_keep:]


class TransformerLM(nn.Module):
    """Token embedding, positional encoding, a stack of blocks, an optional final norm, a head.

    The decoder-only causal LM (``model: lm``) and the encoder-only model (``model: encoder``) are this
    module; they differ in their blocks (causal or not) and heads. State dict: ``embedding``,
    ``positional``, ``embedding_norm``, ``blocks.<i>``, ``final_norm``, ``head``.

    Args:
        embedding: token embedding (``(B, T) -> (B, T, C)``, has ``weight``; called with ``token_types``
            only when given).
        positional: positional encoding (see :mod:`blockforge.components.positional`).
        blocks: the stack, each called as ``block(x, mask=mask, positions=positions)``.
        final_norm: norm after the stack, or None.
        head: called as ``head(x, embedding=embedding[, mask=mask])``.
        max_len: longest accepted sequence.
        dropout: dropout on the embeddings (training only).
        embedding_norm: norm after embeddings and positions are summed (BERT), or None.
    """

    def __init__(
        self,
        *,
        embedding: nn.Module,
        positional: nn.Module,
        blocks: Sequence[nn.Module],
        final_norm: nn.Module | None,
        head: nn.Module,
        max_len: int,
        dropout: float = 0.0,
        embedding_norm: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.max_len = max_len
        self.embedding = embedding
        self.positional = positional
        #: positions follow the padding mask and continue across cached steps (False: a plugin encoding
        #: without ``position_ids``, which always gets ``0 .. T-1``; generation then recomputes, see generate)
        self.positional_takes_ids = takes_position_ids(positional)
        self.embedding_norm = embedding_norm if embedding_norm is not None else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(blocks)
        self.final_norm = final_norm if final_norm is not None else nn.Identity()
        self.head = head

    def forward(
        self,
        ids: Tensor,
        mask: Tensor | None = None,
        *,
        token_types: Tensor | None = None,
        position_ids: Tensor | None = None,
        cache: ModelCache | None = None,
        logits_to_keep: int = 0,
    ) -> Tensor:
        """Run the model.

        Args:
            ids: ``(B, T)`` token ids (with a cache: the new ones).
            mask: optional ``(B, T)`` padding mask: 1 for a token, 0 for padding (as in the seed).
            token_types: optional ``(B, T)`` token-type (segment) ids, for embeddings that have them.
            position_ids: optional ``(B, T)`` positions; default: from ``mask`` (and the cache), see above.
            cache: a :class:`ModelCache` (from :meth:`new_cache`) to decode incrementally, or None.
            logits_to_keep: run the head on the last ``logits_to_keep`` positions only (0 = all).

        Returns:
            What the head returns: ``(B, T, vocab_size)`` logits for ``lm`` (``T = logits_to_keep`` when
            set), ``(B, classes)`` for a classifier, ``(B, T, C)`` hidden states for ``hidden``.

        Raises:
            ValueError: ``ids`` is not a ``(B, T)`` integer tensor on the model's device with ids in
                ``0..vocab_size-1`` and ``T <= max_len``; ``mask`` is not ``(B, T)`` of 0/1;
                ``token_types`` are out of range; the shapes of ``ids`` and ``position_ids`` disagree.
        """
        _check_ids(ids, mask, self.max_len, vocab_size=_vocab_size(self.embedding), device=_model_device(self))
        if token_types is not None:
            _check_token_types(token_types, ids, self.embedding)
        _check_positions(position_ids, ids)
        position_ids = _module_positions(self, mask, _positions(ids, mask, position_ids, cache, self.max_len))
        x = self.embedding(ids) if token_types is None else self.embedding(ids, token_types)  # (B, T, C)
        x = self.dropout(self.embedding_norm(_add_positions(self.positional, x, position_ids)))  # (B, T, C)
        positions = attention_positions(self.positional, ids.shape[1], ids.device, position_ids)
        for i, block in enumerate(self.blocks):
            if cache is None:
                x = block(x, mask=mask, positions=positions)  # (B, T, C)
            else:
                x = block(x, mask=mask, positions=positions, cache=cache.blocks[i])  # (B, T, C)
        x, mask = _keep_last(x, mask, logits_to_keep)  # (B, T', C)
        x = self.final_norm(x)  # (B, T', C)
        return _head(self.head, x, self.embedding, mask)

    def init_tied_weights(self) -> None:
        """Initialise the token embedding as the output projection when the head is tied (:func:`init_tied_table`).

        Called by the builder after every module's own ``reset_parameters`` when the spec sets no ``init_std``.
        """
        init_tied_table(self.embedding, self.head)

    @property
    def cache_blocks(self) -> nn.ModuleList:
        """The blocks that run while decoding (each gets a slot of the cache)."""
        return self.blocks

    def new_cache(self, *, capacity: int | None = None) -> ModelCache:
        """An empty cache for one incremental decoding (see :mod:`blockforge.components.cache`); with
        ``capacity``, keys and values are preallocated for that many positions (a static cache)."""
        return ModelCache(len(self.blocks), capacity=capacity)

    def aux_loss(self) -> Tensor | None:
        """Sum of the auxiliary losses (MoE load balancing) of the last forward, or None."""
        return aux_loss(self)


class TransformerEncoder(TransformerLM):
    """Encoder-only model (BERT-like): the same module as :class:`TransformerLM` with bidirectional blocks."""


class EncoderDecoder(nn.Module):
    """The original Transformer: an encoder stack over the source, a decoder stack that attends to it.

    One token embedding and one positional encoding serve both sides (a shared vocabulary, as in the
    paper). State dict: ``embedding``, ``positional``, ``encoder.<i>``, ``encoder_norm``, ``decoder.<i>``,
    ``decoder_norm``, ``head``.

    Args:
        embedding: shared token embedding.
        positional: shared positional encoding.
        encoder: encoder blocks, ``block(x, mask=..., positions=...)``.
        decoder: decoder blocks, ``block(y, memory=..., mask=..., memory_mask=..., positions=...)``.
        encoder_norm: norm on the encoder output, or None.
        decoder_norm: norm on the decoder output, or None.
        head: output head on the decoder states.
        max_len: longest accepted sequence on either side.
        dropout: dropout on the embeddings (training only).
    """

    #: generation feeds the source to the encoder and generates decoder tokens (transformers' name)
    is_encoder_decoder = True

    def __init__(
        self,
        *,
        embedding: nn.Module,
        positional: nn.Module,
        encoder: Sequence[nn.Module],
        decoder: Sequence[nn.Module],
        encoder_norm: nn.Module | None,
        decoder_norm: nn.Module | None,
        head: nn.Module,
        max_len: int,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.max_len = max_len
        self.embedding = embedding
        self.positional = positional
        #: positions follow the padding mask and continue across cached steps (False: a plugin encoding
        #: without ``position_ids``, which always gets ``0 .. T-1``; generation then recomputes, see generate)
        self.positional_takes_ids = takes_position_ids(positional)
        self.dropout = nn.Dropout(dropout)
        self.encoder = nn.ModuleList(encoder)
        self.encoder_norm = encoder_norm if encoder_norm is not None else nn.Identity()
        self.decoder = nn.ModuleList(decoder)
        self.decoder_norm = decoder_norm if decoder_norm is not None else nn.Identity()
        self.head = head

    def _embed(self, ids: Tensor, position_ids: Tensor | None) -> Tensor:
        return self.dropout(_add_positions(self.positional, self.embedding(ids), position_ids))  # (B, T, C)

    def encode(self, ids: Tensor, mask: Tensor | None = None) -> Tensor:
        """Args: ids: ``(B, S)`` source ids; mask: optional ``(B, S)`` padding mask. Returns: ``(B, S, C)``."""
        _check_ids(ids, mask, self.max_len, vocab_size=_vocab_size(self.embedding), device=_model_device(self))
        position_ids = _module_positions(self, mask, _positions(ids, mask, None, None, self.max_len))
        x = self._embed(ids, position_ids)  # (B, S, C)
        positions = attention_positions(self.positional, ids.shape[1], ids.device, position_ids)
        for block in self.encoder:
            x = block(x, mask=mask, positions=positions)  # (B, S, C)
        return self.encoder_norm(x)  # (B, S, C)

    def forward(
        self,
        ids: Tensor,
        mask: Tensor | None = None,
        *,
        decoder_ids: Tensor | None = None,
        decoder_mask: Tensor | None = None,
        decoder_position_ids: Tensor | None = None,
        cache: ModelCache | None = None,
        logits_to_keep: int = 0,
    ) -> Tensor:
        """Encode ``ids`` and decode ``decoder_ids`` against them (teacher forcing).

        Args:
            ids: ``(B, S)`` source ids.
            mask: optional ``(B, S)`` source padding mask.
            decoder_ids: ``(B, T)`` target ids (shifted right by the caller). When None, ``ids`` and
                ``mask`` are used for both sides, so that single-input callers (summaries, ``blockforge
                build``) can probe shapes.
            decoder_mask: optional ``(B, T)`` target padding mask.
            decoder_position_ids: optional ``(B, T)`` target positions (default: from ``decoder_mask``).
            cache: a :class:`ModelCache` (from :meth:`new_cache`) to decode incrementally: the encoder runs
                on the first call only (its output is kept), ``decoder_ids`` are the new target tokens.
            logits_to_keep: run the head on the last ``logits_to_keep`` positions only (0 = all).

        Returns:
            The head's output on the decoder states, ``(B, T, vocab_size)`` for an LM head.

        Raises:
            ValueError: lengths beyond ``max_len`` or masks that do not match their ids.
        """
        if decoder_ids is None:
            decoder_ids, decoder_mask = ids, mask
        if cache is not None and cache.memory is not None:
            memory, mask = cache.memory, cache.memory_mask  # (B, S, C), computed once
        else:
            memory = self.encode(ids, mask)  # (B, S, C)
            if cache is not None:
                cache.memory, cache.memory_mask = memory, mask
        _check_ids(decoder_ids, decoder_mask, self.max_len, "decoder_ids", vocab_size=_vocab_size(self.embedding),
                   device=_model_device(self))
        if decoder_ids.shape[0] != memory.shape[0]:
            raise ValueError(f"decoder_ids has batch size {decoder_ids.shape[0]} but ids has {memory.shape[0]}; "
                             "each target sequence decodes against its own source")
        _check_positions(decoder_position_ids, decoder_ids)
        position_ids = _module_positions(self, decoder_mask, _positions(decoder_ids, decoder_mask,
                                                                         decoder_position_ids, cache, self.max_len))
        y = self._embed(decoder_ids, position_ids)  # (B, T, C)
        positions = attention_positions(self.positional, decoder_ids.shape[1], decoder_ids.device, position_ids)
        for i, block in enumerate(self.decoder):
            if cache is None:
                y = block(y, memory=memory, mask=decoder_mask, memory_mask=mask, positions=positions)  # (B, T, C)
            else:
                y = block(y, memory=memory, mask=decoder_mask, memory_mask=mask, positions=positions,
                          cache=cache.blocks[i])  # (B, T, C)
        y, decoder_mask = _keep_last(y, decoder_mask, logits_to_keep)  # (B, T', C)
        y = self.decoder_norm(y)  # (B, T', C)
        return _head(self.head, y, self.embedding, decoder_mask)

    def init_tied_weights(self) -> None:
        """Initialise the token embedding as the output projection when the head is tied (:func:`init_tied_table`).

        Called by the builder after every module's own ``reset_parameters`` when the spec sets no ``init_std``.
        """
        init_tied_table(self.embedding, self.head)

    @property
    def cache_blocks(self) -> nn.ModuleList:
        """The decoder blocks (each gets a slot of the cache); the encoder runs once."""
        return self.decoder

    def new_cache(self, *, capacity: int | None = None) -> ModelCache:
        """An empty cache for one incremental decoding (see :mod:`blockforge.components.cache`); with
        ``capacity``, keys and values are preallocated for that many positions (a static cache)."""
        return ModelCache(len(self.decoder), capacity=capacity)

    def aux_loss(self) -> Tensor | None:
        """Sum of the auxiliary losses (MoE load balancing) of the last forward, or None."""
        return aux_loss(self)
