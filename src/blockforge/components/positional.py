"""Positional encodings.

Two families, one calling convention. Every positional module is called on the embeddings,
``positional(x) -> x'`` (absolute encodings add their table; relative ones return ``x`` unchanged), and
has ``attention_positions(t, device=...)`` returning what attention needs, or None:

- sinusoidal, learned: added to the embeddings; ``attention_positions`` returns None.
- rope: returns a :class:`RotaryPositions`, which attention applies to its queries and keys.
- alibi: returns an :class:`ALiBiPositions`, which gives attention an additive per-head score bias.
- none: neither.

The model calls ``attention_positions`` once per forward and passes the result down the stack as the
``positions=`` keyword of every block, which hands it to its attention (see docs/layout.md). The
positional module itself therefore exists once per model, and attention needs no reference to it.

Positions follow the padding mask. When a batch is padded (or while decoding with a cache) the model
passes ``position_ids`` ``(B, T)`` to both calls: ``positional(x, position_ids=...)`` and
``attention_positions(t, device=..., position_ids=...)``; :func:`positions_from_mask` gives the default,
``cumsum(mask) - 1`` clipped at 0 (as transformers does for left padding), so a token's position is its
index among the row's real tokens, whatever padding precedes it. Without ``position_ids`` the positions
are ``0 .. T-1``.
"""

from __future__ import annotations

import inspect
import math

import torch
from torch import Tensor, nn

from blockforge.components.masks import build_mask
from blockforge.components.rope_scaling import RopeScaling, rope_inverse_frequencies


def takes_position_ids(positional: nn.Module) -> bool:
    """Whether a positional module follows ``position_ids``: its ``forward`` and its ``attention_positions``
    (when it has one) accept the keyword. Every built-in encoding does; a plugin's that does not is called
    without it and gets positions ``0 .. T-1`` whatever the padding (the calling convention before padding
    masks moved positions), and generation recomputes the whole context with it."""

    def accepts(fn: object) -> bool:
        try:
            params = inspect.signature(fn).parameters  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False
        return "position_ids" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())

    extra = getattr(positional, "attention_positions", None)
    return accepts(positional.forward) and (extra is None or accepts(extra))


def attention_positions(
    positional: nn.Module, t: int, device: torch.device, position_ids: Tensor | None = None
) -> object | None:
    """What ``positional`` gives attention for a length-``t`` sequence (None for absolute encodings).

    Positional modules from plugins that lack ``attention_positions`` are treated as absolute.
    ``position_ids`` (``(B, T)``) is passed on only when given (so the caller passes None to a module
    that does not take it, see :func:`takes_position_ids`).
    """
    fn = getattr(positional, "attention_positions", None)
    if fn is None:
        return None
    return fn(t, device=device) if position_ids is None else fn(t, device=device, position_ids=position_ids)


def positions_from_mask(mask: Tensor, offset: Tensor | None = None) -> Tensor:
    """Each token's position among its row's real tokens: ``cumsum(mask) - 1`` clipped at 0.

    As transformers computes them for left-padded batches (padding gets position 0; its output is unused).

    Args:
        mask: ``(B, T)`` 1 for a token, 0 for padding.
        offset: ``(B,)`` real tokens before these ones (decoding with a cache), or None for 0.

    Returns:
        ``(B, T)`` int64.
    """
    pos = mask.long().cumsum(-1) - 1  # (B, T)
    if offset is not None:
        pos = pos + offset[:, None]
    return pos.clamp(min=0)


class SinusoidalPositionalEncoding(nn.Module):
    """The fixed sin/cos table of "Attention Is All You Need", added to the input.

    ``pe[pos, 2i] = sin(pos / base^(2i/d))`` and ``pe[pos, 2i+1] = cos(pos / base^(2i/d))``.
    The table is a non-persistent buffer: it is not in the state dict and has no parameters.

    Args:
        d_model: width; must be even.
        max_len: number of positions in the table.
        base: the wavelength base (10000 in the paper).

    Raises:
        ValueError: if ``d_model`` is odd or a size is not positive.
    """

    def __init__(self, *, d_model: int, max_len: int, base: float = 10000.0) -> None:
        super().__init__()
        if d_model <= 0 or max_len <= 0 or d_model % 2:
            raise ValueError(f"need an even, positive d_model and positive max_len; got {d_model}, {max_len}")
        self.d_model, self.max_len, self.base = d_model, max_len, base
        self.register_buffer("pe", torch.empty(max_len, d_model), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """(Re)compute the table; the builder calls this after materialising a meta-built model."""
        if self.pe.is_meta:
            return
        compute = torch.promote_types(self.pe.dtype, torch.float32)  # float64 tables are computed in float64
        pos = torch.arange(self.max_len, dtype=compute, device=self.pe.device)[:, None]  # (L, 1)
        div = torch.exp(
            torch.arange(0, self.d_model, 2, dtype=compute, device=self.pe.device)
            * (-math.log(self.base) / self.d_model)
        )  # (C/2,)
        table = torch.empty(self.max_len, self.d_model, dtype=compute, device=self.pe.device)
        table[:, 0::2] = torch.sin(pos * div)
        table[:, 1::2] = torch.cos(pos * div)
        with torch.no_grad():
            self.pe.copy_(table.to(self.pe.dtype))

    def forward(self, x: Tensor, *, position_ids: Tensor | None = None) -> Tensor:
        """Args: x: ``(B, T, C)``; position_ids: optional ``(B, T)``. Returns: ``x + pe[pos]``, ``(B, T, C)``."""
        if position_ids is None:
            return x + self.pe[: x.shape[1]]  # (B, T, C)
        return x + self.pe[position_ids]  # (B, T, C)

    def attention_positions(self, t: int, *, device: torch.device, position_ids: Tensor | None = None) -> None:
        """Absolute: nothing for attention."""
        return None


class LearnedPositionalEmbedding(nn.Embedding):
    """A trained table of position vectors, added to the input (GPT-2, BERT).

    It is an ``nn.Embedding`` (one row per position, state-dict key ``weight``), so a spec's
    ``init_std`` initialises it like the token table, as GPT-2 and BERT do (``initializer_range``);
    without ``init_std`` it keeps ``nn.Embedding``'s N(0, 1).

    Args:
        d_model: width.
        max_len: number of positions.
    """

    def __init__(self, *, d_model: int, max_len: int) -> None:
        super().__init__(max_len, d_model)

    def forward(self, x: Tensor, *, position_ids: Tensor | None = None) -> Tensor:
        """Args: x: ``(B, T, C)``; position_ids: optional ``(B, T)``. Returns: ``x + weight[pos]``, ``(B, T, C)``."""
        if position_ids is None:
            return x + self.weight[: x.shape[1]]  # (B, T, C)
        return x + self.weight[position_ids]  # (B, T, C)

    def attention_positions(self, t: int, *, device: torch.device, position_ids: Tensor | None = None) -> None:
        """Absolute: nothing for attention."""
        return None


class NoPositionalEncoding(nn.Module):
    """No position information at all (NoPE; recurrent mixers carry order themselves)."""

    def forward(self, x: Tensor, *, position_ids: Tensor | None = None) -> Tensor:
        """Args: x: ``(B, T, C)``. Returns: ``x`` unchanged."""
        return x

    def attention_positions(self, t: int, *, device: torch.device, position_ids: Tensor | None = None) -> None:
        """Nothing for attention."""
        return None


class RotaryPositions:
    """Rotary position embedding for one forward pass: rotates queries and keys in attention.

    Uses the "rotate half" layout of GPT-NeoX and Hugging Face Llama: the first ``rotary_dim`` features
    of each head are split into two halves that form the (real, imaginary) parts of the rotated pairs;
    the remaining features (partial rotary) pass through unchanged. The angle table is computed in float32
    for every model dtype, as transformers' Llama-family rotary embeddings do (so float64 models match
    theirs to 1e-10), and cast to the queries' dtype.

    Args:
        positions: ``(T,)`` or ``(B, T)`` float positions.
        theta: the frequency base.
        fraction: the fraction of each head's features that are rotated.
        scaling: the frequency scaling variant (:mod:`~blockforge.components.rope_scaling`); None: plain RoPE.
        interleaved: rotate adjacent feature pairs ``(x0, x1), (x2, x3), ...`` (GPT-J, Cohere: "rotate
            every two") instead of the two halves.
    """

    def __init__(
        self, *, positions: Tensor, theta: float, fraction: float, scaling: RopeScaling | None = None,
        interleaved: bool = False,
    ) -> None:
        self.positions = positions
        self.theta = theta
        self.fraction = fraction
        self.scaling = scaling
        self.interleaved = interleaved

    def cos_sin(self, head_dim: int, dtype: torch.dtype) -> tuple[Tensor, Tensor, int]:
        """``cos`` and ``sin`` of shape ``(T, rotary_dim)`` (``(B, 1, T, rotary_dim)`` for per-row positions)
        and ``rotary_dim`` for heads of ``head_dim``."""
        rot = int(head_dim * self.fraction) // 2 * 2
        seq_len = None
        if self.scaling is not None and self.scaling.length_dependent and self.positions.numel():
            seq_len = int(self.positions.max().item()) + 1
        inv_freq, factor = rope_inverse_frequencies(
            rotary_dim=rot, theta=self.theta, scaling=self.scaling, seq_len=seq_len, device=self.positions.device
        )  # (rot/2,)
        angles = self.positions.float()[..., None] * inv_freq  # (T, rot/2) or (B, T, rot/2)
        if self.interleaved:
            angles = angles.repeat_interleave(2, dim=-1)  # (T, rot) or (B, T, rot): one angle per adjacent pair
        else:
            angles = torch.cat((angles, angles), dim=-1)  # (T, rot) or (B, T, rot)
        if angles.dim() == 3:
            angles = angles[:, None]  # (B, 1, T, rot): broadcast over heads
        return (angles.cos() * factor).to(dtype), (angles.sin() * factor).to(dtype), rot

    def rotate(self, q: Tensor, k: Tensor) -> tuple[Tensor, Tensor]:
        """Rotate queries ``(B, H, T, D)`` and keys ``(B, KV, T, D)``; returns both, same shapes."""
        cos, sin, rot = self.cos_sin(q.shape[-1], q.dtype)  # (T, rot)
        return _rope(q, cos, sin, rot, self.interleaved), _rope(k, cos, sin, rot, self.interleaved)

    def score_bias(self, heads: int, t_q: int, t_k: int, dtype: torch.dtype) -> None:
        """Rotary positions add no score bias."""
        return None


def _rope(x: Tensor, cos: Tensor, sin: Tensor, rot: int, interleaved: bool = False) -> Tensor:
    x_rot, x_pass = x[..., :rot], x[..., rot:]  # (B, H, T, rot), (B, H, T, D - rot)
    if interleaved:  # pairs (x0, x1), (x2, x3), ... -> (-x1, x0), (-x3, x2), ...
        rotated = torch.stack((-x_rot[..., 1::2], x_rot[..., 0::2]), dim=-1).flatten(-2)  # (B, H, T, rot)
    else:
        x1, x2 = x_rot.chunk(2, dim=-1)  # each (B, H, T, rot/2)
        rotated = torch.cat((-x2, x1), dim=-1)  # (B, H, T, rot)
    return torch.cat((x_rot * cos + rotated * sin, x_pass), dim=-1)  # (B, H, T, D)


class RotaryEmbedding(nn.Module):
    """RoPE (Su et al.): positions enter attention by rotating queries and keys; nothing is added.

    Args:
        theta: frequency base (10000 in the paper, 500000 in Llama 3).
        fraction: fraction of each head's features that are rotated (GPT-NeoX uses 0.25).
        scaling: linear position scaling ("position interpolation"): the frequencies are divided by it.
        rope_scaling: another frequency scaling variant (yarn, llama3, ...;
            :mod:`~blockforge.components.rope_scaling`), instead of ``scaling``.
        interleaved: rotate adjacent feature pairs (GPT-J) instead of the two halves (GPT-NeoX, Llama).

    Raises:
        ValueError: for a non-positive ``theta`` or ``scaling`` or a ``fraction`` outside (0, 1].
    """

    def __init__(
        self, *, theta: float = 10000.0, fraction: float = 1.0, scaling: float = 1.0,
        rope_scaling: RopeScaling | None = None, interleaved: bool = False,
    ) -> None:
        super().__init__()
        self.interleaved = interleaved
        if theta <= 0 or scaling <= 0 or not 0 < fraction <= 1:
            raise ValueError(f"need theta > 0, scaling > 0, 0 < fraction <= 1; got {theta}, {scaling}, {fraction}")
        self.theta, self.fraction, self.scaling = theta, fraction, scaling
        if rope_scaling is None and scaling != 1.0:
            rope_scaling = RopeScaling(type="linear", factor=scaling)
        self.rope_scaling = rope_scaling

    def forward(self, x: Tensor, *, position_ids: Tensor | None = None) -> Tensor:
        """Args: x: ``(B, T, C)``. Returns: ``x`` unchanged (RoPE acts inside attention)."""
        return x

    def attention_positions(
        self, t: int, *, device: torch.device, position_ids: Tensor | None = None
    ) -> RotaryPositions:
        """The rotation for positions ``position_ids`` (``(B, T)``), or ``0 .. t-1`` when None."""
        if position_ids is None:
            pos = torch.arange(t, dtype=torch.float32, device=device)  # (T,)
        else:
            pos = position_ids.to(torch.float32)  # (B, T)
        return RotaryPositions(positions=pos, theta=self.theta, fraction=self.fraction, scaling=self.rope_scaling,
                               interleaved=self.interleaved)

    def extra_repr(self) -> str:
        kind = f", scaling={self.rope_scaling.type}" if self.rope_scaling is not None else ""
        pairs = ", interleaved=True" if self.interleaved else ""
        return f"theta={self.theta}, fraction={self.fraction}{kind}{pairs}"


def alibi_slopes(heads: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """The ALiBi head slopes of Press et al. (with their interpolation for non-powers of two).

    Args:
        heads: number of attention heads.
        dtype: dtype of the result (the slopes are rounded once, from Python floats).

    Returns:
        ``(heads,)`` on the CPU.
    """
    def powers(n: int) -> list[float]:
        start = 2.0 ** (-(2.0 ** -(math.log2(n) - 3)))
        return [start ** (i + 1) for i in range(n)]

    if math.log2(heads).is_integer():
        slopes = powers(heads)
    else:
        closest = 2 ** math.floor(math.log2(heads))
        slopes = powers(closest) + powers(2 * closest)[0::2][: heads - closest]
    return torch.tensor(slopes, dtype=dtype)


class ALiBiPositions:
    """ALiBi for one forward pass: a per-head linear penalty ``-slope_h * (i - j)`` on attention scores.

    One object serves every layer of a forward pass, and it builds each tensor once: the bias
    (:meth:`score_bias`) and the bias with the layer's mask folded in (:meth:`masked_score_bias`, the
    ``(B, H, T_q, T_k)`` float mask SDPA takes) are cached by their arguments, so a stack of ``L`` layers
    shares one mask instead of building (and, when training, saving for backward) ``L`` copies.

    Args:
        device: where the bias is built.
    """

    def __init__(self, *, device: torch.device) -> None:
        self.device = device
        self._bias: dict[tuple[int, int, int, torch.dtype], Tensor] = {}
        self._masked: list[tuple[tuple[object, ...], Tensor | None, Tensor]] = []

    def rotate(self, q: Tensor, k: Tensor) -> tuple[Tensor, Tensor]:
        """ALiBi leaves queries and keys alone."""
        return q, k

    def score_bias(self, heads: int, t_q: int, t_k: int, dtype: torch.dtype) -> Tensor:
        """The additive bias ``(H, T_q, T_k)``: ``-slope_h * |i - j|`` (symmetric, so it also serves encoders).

        Queries are the last ``T_q`` of the ``T_k`` keys (``T_q < T_k`` while decoding with a cache).

        Computed in at least float32 (float64 stays float64) and cast to ``dtype``; built once per
        argument tuple for this forward pass.
        """
        key = (heads, t_q, t_k, dtype)
        if key not in self._bias:
            compute = torch.promote_types(dtype, torch.float32)
            slopes = alibi_slopes(heads, compute).to(self.device)  # (H,)
            i = torch.arange(t_k - t_q, t_k, device=self.device)[:, None]  # (Tq, 1): the last Tq keys' places
            j = torch.arange(t_k, device=self.device)[None, :]  # (1, Tk)
            dist = (i - j).abs().to(compute)  # (Tq, Tk)
            self._bias[key] = (-slopes[:, None, None] * dist).to(dtype)  # (H, Tq, Tk)
        return self._bias[key]

    def masked_score_bias(
        self,
        heads: int,
        t_q: int,
        t_k: int,
        dtype: torch.dtype,
        *,
        padding: Tensor | None,
        causal: bool,
        window: int | None,
    ) -> Tensor:
        """:meth:`score_bias` with ``-inf`` wherever :func:`~blockforge.components.masks.build_mask` forbids.

        The result is the whole attention mask of one layer; layers with the same arguments (and the same
        ``padding`` tensor) get the same tensor, built once per forward pass.

        Args:
            heads: number of query heads.
            t_q: number of queries.
            t_k: number of keys.
            dtype: the scores' dtype.
            padding: ``(B, T_k)`` 1 for a token, 0 for padding; or None.
            causal: forbid later keys.
            window: sliding-window size, or None.

        Returns:
            ``(B or 1, H, T_q, T_k)`` float: the bias where attending is allowed, ``-inf`` elsewhere
            (the ``(H, T_q, T_k)`` bias itself when nothing is masked).
        """
        key = (heads, t_q, t_k, dtype, causal, window)
        for cached_key, cached_padding, mask in self._masked:
            if cached_key == key and cached_padding is padding:
                return mask
        bias = self.score_bias(heads, t_q, t_k, dtype)  # (H, Tq, Tk)
        keep = build_mask(padding=padding, t_q=t_q, t_k=t_k, causal=causal, window=window, device=self.device)
        mask = bias if keep is None else bias.masked_fill(~keep, float("-inf"))  # (H, Tq, Tk) or (B|1, H, Tq, Tk)
        self._masked.append((key, padding, mask))  # keeps ``padding`` alive, so ``is`` stays meaningful
        return mask


class ALiBi(nn.Module):
    """ALiBi (Press et al.): no embedding; attention scores get a per-head distance penalty.

    Under a causal mask ``-slope * |i - j|`` equals the paper's ``-slope * (i - j)``; for encoders the
    penalty is symmetric. ALiBi needs an additive float mask, so SDPA cannot use its ``is_causal`` fast path.
    """

    def forward(self, x: Tensor, *, position_ids: Tensor | None = None) -> Tensor:
        """Args: x: ``(B, T, C)``. Returns: ``x`` unchanged (ALiBi acts inside attention)."""
        return x

    def attention_positions(
        self, t: int, *, device: torch.device, position_ids: Tensor | None = None
    ) -> ALiBiPositions:
        """The bias builder for this forward pass. ALiBi is relative (key distance in the padded sequence,
        which equals the distance among real tokens since each row's tokens are contiguous), so
        ``position_ids`` is not needed."""
        return ALiBiPositions(device=device)
