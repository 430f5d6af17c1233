"""Blocks: sequence-mixer and feed-forward sublayers with residual connections and norms.

Every block is called as ``block(x, *, mask=None, positions=None)`` (the decoder block of an
encoder-decoder model also takes ``memory=`` and ``memory_mask=``). ``positions`` is what the model's
positional encoding gives attention (RoPE, ALiBi), or None; a block always passes it on to its sequence
mixer as ``mixer(x, mask=mask, positions=positions)`` (cross-attention gets ``memory=`` instead).

While decoding incrementally, blocks are also called with ``cache=`` (a
:class:`~blockforge.components.cache.BlockCache`) and hand its slots on: ``cache=cache.mixer`` to the
sequence mixer, ``cache=cache.cross`` to cross-attention. Without a cache the keyword is not passed, so
mixers that have no cache support are called exactly as before. Blocks here declare ``supports_cache``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from blockforge.components.cache import BlockCache

NormPosition = Literal["pre", "post", "sandwich", "output"]


@dataclass(frozen=True)
class Residual:
    """One residual connection of a block, as a diagram draws it: ``x = after(x + sum(branch(before(x))))``.

    Names are the block's child modules; a name whose module is None or ``nn.Identity`` is skipped.
    A block declares its wiring with ``residuals()`` (``blockforge draw`` reads it).

    Attributes:
        branches: the chains of child modules summed into the residual, each applied in order
            (two for a parallel block).
        before: child modules applied once before the branches split (a norm they share).
        after: a child module applied after the add (post-norm), or None.
    """

    branches: tuple[tuple[str, ...], ...]
    before: tuple[str, ...] = ()
    after: str | None = None


def _mix(mixer: nn.Module, x: Tensor, mask: Tensor | None, positions: object | None,
         cache: BlockCache | None) -> Tensor:
    """Call a sequence mixer, with its cache slot only while decoding with a cache."""
    if cache is None:
        return mixer(x, mask=mask, positions=positions)
    return mixer(x, mask=mask, positions=positions, cache=cache.mixer)


class LayerScale(nn.Module):
    """Per-channel learned scale of a residual branch (CaiT): ``x * weight``.

    Args:
        dim: width.
        init: initial value of every channel (small, e.g. 1e-5).
    """

    def __init__(self, *, dim: int, init: float) -> None:
        super().__init__()
        self.init = init
        self.weight = nn.Parameter(torch.empty(dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Fill with ``init``."""
        nn.init.constant_(self.weight, self.init)

    def forward(self, x: Tensor) -> Tensor:
        """Args: x: ``(B, T, C)``. Returns: ``(B, T, C)``."""
        return x * self.weight


class DropPath(nn.Module):
    """Stochastic depth: in training, drop a whole residual branch per sample with probability ``p``.

    Kept branches are scaled by ``1 / (1 - p)`` so the expectation is unchanged; identity in eval.

    Args:
        p: drop probability in ``[0, 1)``.
    """

    def __init__(self, *, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"drop probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        """Args: x: ``(B, T, C)``. Returns: ``(B, T, C)``."""
        if not self.training or self.p == 0.0:
            return x
        keep = torch.empty(x.shape[0], *([1] * (x.dim() - 1)), device=x.device, dtype=x.dtype)
        keep = keep.bernoulli_(1.0 - self.p) / (1.0 - self.p)  # (B, 1, 1)
        return x * keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


class TransformerBlock(nn.Module):
    """A sequence mixer (attention, LSTM, ...) then a feed-forward network, each with a residual connection.

    ``post`` (the seed's, and the original Transformer's): ``x = norm(x + f(x))``.
    ``pre`` (GPT-2 onwards): ``x = x + f(norm(x))``.
    ``sandwich`` (Gemma 2): ``x = x + post_norm(f(norm(x)))``.
    ``output`` (OLMo 2): ``x = x + norm(f(x))``, the norm on each branch's output only.
    Each branch ``f(.)`` is followed by dropout, then layer scale and stochastic depth when set.

    State dict: ``attn_norm``, ``attention``, ``ff_norm``, ``feedforward``; with ``sandwich`` also
    ``attn_post_norm`` and ``ff_post_norm``; with layer scale ``attn_scale.weight`` and ``ff_scale.weight``.

    Args:
        attention: the sequence mixer, called as ``attention(x, mask=mask, positions=positions)``.
        feedforward: the feed-forward module, called as ``feedforward(x)``.
        attn_norm: the norm around the attention sublayer (before it for pre/sandwich, after the residual
            sum for post, on the sublayer's output for output).
        ff_norm: the norm around the feed-forward sublayer.
        attn_post_norm: with ``sandwich``, the norm on the attention output; otherwise must be None.
        ff_post_norm: with ``sandwich``, the norm on the feed-forward output; otherwise must be None.
        norm_position: ``pre``, ``post``, ``sandwich`` or ``output``.
        dropout: residual dropout on each sublayer's output (training only).
        layer_scale: initial value of per-channel branch scales (CaiT), or None for none.
        drop_path: stochastic-depth probability of dropping each branch per sample (training only).
        d_model: width (needed only for ``layer_scale``).

    Raises:
        ValueError: for an unknown ``norm_position`` or post norms that do not match it.
    """

    def __init__(
        self,
        *,
        attention: nn.Module,
        feedforward: nn.Module,
        attn_norm: nn.Module,
        ff_norm: nn.Module,
        attn_post_norm: nn.Module | None = None,
        ff_post_norm: nn.Module | None = None,
        norm_position: NormPosition = "pre",
        dropout: float = 0.0,
        layer_scale: float | None = None,
        drop_path: float = 0.0,
        d_model: int | None = None,
    ) -> None:
        super().__init__()
        if norm_position not in ("pre", "post", "sandwich", "output"):
            raise ValueError(f"norm_position must be 'pre', 'post', 'sandwich' or 'output', got {norm_position!r}")
        if (norm_position == "sandwich") != (attn_post_norm is not None and ff_post_norm is not None):
            raise ValueError("attn_post_norm and ff_post_norm are required with 'sandwich' and only with it")
        if layer_scale is not None and d_model is None:
            raise ValueError("layer_scale needs d_model")
        self.norm_position = norm_position
        self.attn_norm = attn_norm
        self.attention = attention
        self.attn_post_norm = attn_post_norm
        self.ff_norm = ff_norm
        self.feedforward = feedforward
        self.ff_post_norm = ff_post_norm
        self.dropout = nn.Dropout(dropout)
        if layer_scale is not None:
            self.attn_scale = LayerScale(dim=d_model, init=layer_scale)  # type: ignore[arg-type]
            self.ff_scale = LayerScale(dim=d_model, init=layer_scale)  # type: ignore[arg-type]
        else:
            self.attn_scale, self.ff_scale = nn.Identity(), nn.Identity()
        self.drop_path = DropPath(p=drop_path) if drop_path else nn.Identity()

    supports_cache = True

    def forward(
        self, x: Tensor, *, mask: Tensor | None = None, positions: object | None = None,
        cache: BlockCache | None = None,
    ) -> Tensor:
        """Args: x: ``(B, T, C)``; mask: optional ``(B, T)`` padding mask; positions: for attention;
        cache: the block's slots while decoding, or None.

        Returns:
            ``(B, T, C)``.
        """
        if self.norm_position == "post":
            y = _mix(self.attention, x, mask, positions, cache)  # (B, T, C)
            x = self.attn_norm(x + self.drop_path(self.attn_scale(self.dropout(y))))  # (B, T, C)
            y = self.feedforward(x)  # (B, T, C)
            return self.ff_norm(x + self.drop_path(self.ff_scale(self.dropout(y))))  # (B, T, C)
        if self.norm_position == "output":
            y = self.attn_norm(_mix(self.attention, x, mask, positions, cache))  # (B, T, C)
            x = x + self.drop_path(self.attn_scale(self.dropout(y)))  # (B, T, C)
            y = self.ff_norm(self.feedforward(x))  # (B, T, C)
            return x + self.drop_path(self.ff_scale(self.dropout(y)))  # (B, T, C)
        y = _mix(self.attention, self.attn_norm(x), mask, positions, cache)  # (B, T, C)
        if self.attn_post_norm is not None:
            y = self.attn_post_norm(y)
        x = x + self.drop_path(self.attn_scale(self.dropout(y)))  # (B, T, C)
        y = self.feedforward(self.ff_norm(x))  # (B, T, C)
        if self.ff_post_norm is not None:
            y = self.ff_post_norm(y)
        return x + self.drop_path(self.ff_scale(self.dropout(y)))  # (B, T, C)

    def residuals(self) -> tuple[Residual, ...]:
        """The block's wiring (see :class:`Residual`): one residual per sublayer, norms where they act."""
        if self.norm_position == "post":
            return (Residual(branches=(("attention", "attn_scale"),), after="attn_norm"),
                    Residual(branches=(("feedforward", "ff_scale"),), after="ff_norm"))
        return (Residual(branches=(("attn_norm", "attention", "attn_post_norm", "attn_scale"),)),
                Residual(branches=(("ff_norm", "feedforward", "ff_post_norm", "ff_scale"),)))

    def extra_repr(self) -> str:
        return f"norm_position={self.norm_position!r}"


class ParallelBlock(nn.Module):
    """Attention and feed-forward side by side on the same input (GPT-J, GPT-NeoX, Falcon, PaLM).

    ``x = x + attention(attn_norm(x)) + feedforward(ff_norm(x))``; with ``ff_norm`` None both branches
    read ``attn_norm(x)`` (GPT-J, Falcon-7B). State dict: ``attn_norm``, ``ff_norm`` (if own),
    ``attention``, ``feedforward``.

    Args:
        attention: the sequence mixer, called as ``attention(x, mask=mask, positions=positions)``.
        feedforward: the feed-forward module.
        attn_norm: norm before attention (and before the feed-forward if ``ff_norm`` is None).
        ff_norm: separate norm before the feed-forward (GPT-NeoX), or None to share ``attn_norm``.
        dropout: residual dropout on each branch (training only).
        drop_path: stochastic-depth probability (training only); both branches drop together.
    """

    def __init__(
        self,
        *,
        attention: nn.Module,
        feedforward: nn.Module,
        attn_norm: nn.Module,
        ff_norm: nn.Module | None = None,
        dropout: float = 0.0,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.attn_norm = attn_norm
        self.ff_norm = ff_norm
        self.attention = attention
        self.feedforward = feedforward
        self.dropout = nn.Dropout(dropout)
        self.drop_path = DropPath(p=drop_path) if drop_path else nn.Identity()

    supports_cache = True

    def forward(
        self, x: Tensor, *, mask: Tensor | None = None, positions: object | None = None,
        cache: BlockCache | None = None,
    ) -> Tensor:
        """Args: x: ``(B, T, C)``; mask: optional ``(B, T)`` padding mask; positions: for attention;
        cache: the block's slots while decoding, or None.

        Returns:
            ``(B, T, C)``.
        """
        h = self.attn_norm(x)  # (B, T, C)
        hf = self.ff_norm(x) if self.ff_norm is not None else h  # (B, T, C)
        y = self.dropout(_mix(self.attention, h, mask, positions, cache))  # (B, T, C)
        y = y + self.dropout(self.feedforward(hf))  # (B, T, C)
        return x + self.drop_path(y)  # (B, T, C)

    def residuals(self) -> tuple[Residual, ...]:
        """The block's wiring (see :class:`Residual`): both branches summed into one residual."""
        if self.ff_norm is None:
            return (Residual(before=("attn_norm",), branches=(("attention",), ("feedforward",))),)
        return (Residual(branches=(("attn_norm", "attention"), ("ff_norm", "feedforward"))),)


class DecoderBlock(nn.Module):
    """Masked self-attention, cross-attention to an encoder's output, feed-forward (the original Transformer).

    ``post``: ``x = norm(x + f(x))`` for each sublayer; ``pre``: ``x = x + f(norm(x))``. State dict:
    ``attn_norm``, ``attention``, ``cross_norm``, ``cross_attention``, ``ff_norm``, ``feedforward``.

    Args:
        attention: causal self-attention, called as ``attention(x, mask=mask, positions=positions)``.
        cross_attention: called as ``cross_attention(x, memory=memory, memory_mask=memory_mask)``.
        feedforward: the feed-forward module.
        attn_norm: norm around self-attention.
        cross_norm: norm around cross-attention.
        ff_norm: norm around the feed-forward.
        norm_position: ``pre`` or ``post``.
        dropout: residual dropout (training only).

    Raises:
        ValueError: for an unknown ``norm_position``.
    """

    def __init__(
        self,
        *,
        attention: nn.Module,
        cross_attention: nn.Module,
        feedforward: nn.Module,
        attn_norm: nn.Module,
        cross_norm: nn.Module,
        ff_norm: nn.Module,
        norm_position: Literal["pre", "post"] = "post",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if norm_position not in ("pre", "post"):
            raise ValueError(f"norm_position must be 'pre' or 'post', got {norm_position!r}")
        self.norm_position = norm_position
        self.attn_norm, self.attention = attn_norm, attention
        self.cross_norm, self.cross_attention = cross_norm, cross_attention
        self.ff_norm, self.feedforward = ff_norm, feedforward
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        x: Tensor,
        *,
        memory: Tensor,
        mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        positions: object | None = None,
        cache: BlockCache | None = None,
    ) -> Tensor:
        """Args:
            x: ``(B, T, C)`` decoder states.
            memory: ``(B, S, C)`` encoder output.
            mask: optional ``(B, T)`` decoder padding mask.
            memory_mask: optional ``(B, S)`` encoder padding mask.
            positions: for self-attention (RoPE/ALiBi), or None.
            cache: the block's slots while decoding (self-attention and cross-attention), or None.

        Returns:
            ``(B, T, C)``.
        """
        def cross(h: Tensor) -> Tensor:
            if cache is None:
                return self.cross_attention(h, memory=memory, memory_mask=memory_mask)
            return self.cross_attention(h, memory=memory, memory_mask=memory_mask, cache=cache.cross)

        if self.norm_position == "post":
            x = self.attn_norm(x + self.dropout(_mix(self.attention, x, mask, positions, cache)))  # (B, T, C)
            x = self.cross_norm(x + self.dropout(cross(x)))  # (B, T, C)
            return self.ff_norm(x + self.dropout(self.feedforward(x)))  # (B, T, C)
        x = x + self.dropout(_mix(self.attention, self.attn_norm(x), mask, positions, cache))  # (B, T, C)
        x = x + self.dropout(cross(self.cross_norm(x)))  # (B, T, C)
        return x + self.dropout(self.feedforward(self.ff_norm(x)))  # (B, T, C)

    def residuals(self) -> tuple[Residual, ...]:
        """The block's wiring (see :class:`Residual`): self-attention, cross-attention, feed-forward."""
        pairs = (("attention", "attn_norm"), ("cross_attention", "cross_norm"), ("feedforward", "ff_norm"))
        if self.norm_position == "post":
            return tuple(Residual(branches=((f,),), after=n) for f, n in pairs)
        return tuple(Residual(branches=((n, f),)) for f, n in pairs)

    supports_cache = True

    def extra_repr(self) -> str:
        return f"norm_position={self.norm_position!r}"
