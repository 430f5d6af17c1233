"""Built-in sequence mixers (the ``attention`` kind): attention variants and recurrent layers.

Everything registered in this kind is called as ``mixer(x, mask=mask, positions=positions)`` (``positions``
is None unless the model's positional encoding acts in attention, see :data:`blockforge.spec.PositionUse`)
and can fill a block's ``attention`` slot, so hybrid recurrent/attention stacks are one spec. Each parameter
model declares ``uses_positions``; cross-attention is called as ``m(x, memory=..., memory_mask=...)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import ConfigDict, Field

from blockforge.builtins._limits import MAX_LEN, MAX_WIDTH, Heads, Probability
from blockforge.registry.context import BuildContext
from blockforge.registry.registry import Registrar
from blockforge.spec.params import NormRef, Params, PositionUse
from blockforge.spec.slots import Attends

if TYPE_CHECKING:
    from torch import nn

SoftCap = Annotated[float, Field(gt=0.0, le=1e6)]
HeadDim = Annotated[int, Field(gt=0, le=MAX_WIDTH)]


class _HeadsParams(Params):
    heads: Heads
    """Number of attention heads (query heads); must divide d_model unless ``head_dim`` is given."""
    kv_heads: Heads | None = None
    """Key/value heads (grouped-query attention; 1 is multi-query); must divide ``heads``. null = ``heads``."""
    head_dim: HeadDim | None = None
    """Width of each head; null = d_model / heads (Gemma uses 256 independently of d_model)."""
    bias: bool = True
    """Biases on the input projections."""
    softcap: SoftCap | None = None
    """Attention logit soft-cap ``cap * tanh(s / cap)`` (Gemma 2: 50); forces the explicit math path."""
    qk_norm: NormRef | None = None
    """Norm applied per head to queries and keys (QK-norm), e.g. ``rmsnorm``; null for none."""
    dropout: Probability = 0.0
    """Dropout on the attention probabilities."""

    def check(self, ctx: BuildContext) -> Iterable[tuple[str, str]]:
        """Shape contracts of the head layout.

        Args:
            ctx: the model's build context (``ctx.d_model``).

        Returns:
            ``(field, message)`` for ``heads`` not dividing ``d_model`` (without ``head_dim``) and for
            ``kv_heads`` not dividing ``heads``.
        """
        if self.head_dim is None and ctx.d_model % self.heads:
            yield "heads", f"d_model={ctx.d_model} is not divisible by heads={self.heads} (or set head_dim)"
        if self.kv_heads is not None and self.heads % self.kv_heads:
            yield "kv_heads", f"kv_heads={self.kv_heads} does not divide heads={self.heads}"

    def _head_dim(self, ctx: BuildContext) -> int:
        return self.head_dim if self.head_dim is not None else ctx.d_model // self.heads

    def _qk_norms(self, ctx: BuildContext) -> tuple[nn.Module | None, nn.Module | None]:
        if self.qk_norm is None:
            return None, None
        head_ctx = replace(ctx, d_model=self._head_dim(ctx))  # the norm acts on one head's features
        return head_ctx.child(self.qk_norm), head_ctx.child(self.qk_norm)


class MultiHeadAttentionParams(_HeadsParams):
    """Multi-head self-attention: grouped-query, sliding window, QK-norm, soft-cap; through SDPA."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"heads": 2},
                {"heads": 4, "causal": True, "bias": False},
                {"heads": 4, "kv_heads": 2, "causal": True, "window": 3, "qk_norm": "rmsnorm"},
                {"heads": 4, "kv_heads": 2, "causal": True, "qk_norm": "rmsnorm", "qk_norm_scope": "all"},
                {"heads": 4, "kv_heads": 1, "head_dim": 8, "causal": True, "softcap": 50.0, "scale": 0.25},
            ]
        }
    )

    uses_positions: ClassVar[PositionUse] = "applies"  # RoPE rotates q and k; ALiBi biases the scores

    out_bias: bool | None = None
    """Bias on the output projection; null = same as ``bias``."""
    causal: bool = False
    """Forbid attending to later positions (decoders)."""
    window: Annotated[int, Field(gt=0, le=MAX_LEN)] | None = None
    """Sliding window: each query sees at most this many keys, itself included (Mistral: 4096); null = all."""
    scale: Annotated[float, Field(gt=0.0)] | None = None
    """Score scale; null = head_dim ** -0.5 (Gemma 2 uses query_pre_attn_scalar ** -0.5)."""
    qk_norm_scope: Literal["head", "all"] = "head"
    """What ``qk_norm`` normalises: each head's features (``head``: Qwen3, Gemma 3), or all heads'
    features of the query and of the key projection at once (``all``: OLMo 2; two norms of widths
    heads * head_dim and kv_heads * head_dim)."""

    def _qk_norms(self, ctx: BuildContext) -> tuple[nn.Module | None, nn.Module | None]:
        if self.qk_norm is None or self.qk_norm_scope == "head":
            return super()._qk_norms(ctx)
        d = self._head_dim(ctx)
        q_ctx, k_ctx = replace(ctx, d_model=self.heads * d), replace(ctx, d_model=(self.kv_heads or self.heads) * d)
        return q_ctx.child(self.qk_norm), k_ctx.child(self.qk_norm)

    def check(self, ctx: BuildContext) -> Iterable[tuple[str, str]]:
        """The head layout's contracts, and a ``window`` no longer than the model's ``max_len``.

        Args:
            ctx: the model's build context (``ctx.d_model``, ``ctx.max_len``).

        Returns:
            ``(field, message)`` for each broken contract (see :meth:`_HeadsParams.check`).
        """
        yield from super().check(ctx)
        if self.window is not None and self.window > ctx.max_len:
            yield "window", (f"window={self.window} is longer than max_len={ctx.max_len}: every query already "
                             f"sees every earlier key, so the window does nothing; drop it (window: null) or make "
                             f"it at most {ctx.max_len}")


class CrossAttentionParams(_HeadsParams):
    """Cross-attention from the decoder to the encoder's output (queries from x, keys/values from memory)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"heads": 2}, {"heads": 4, "kv_heads": 2}]})

    uses_positions: ClassVar[PositionUse] = "cross"  # called with memory=, never with positions=
    attends: ClassVar[Attends] = "memory"  # fits only a slot declared Ref("attention", attends="memory")


class RecurrentParams(Params):
    """A recurrent layer over the sequence, in place of attention (the seed's RNN family)."""

    uses_positions: ClassVar[PositionUse] = "inherent"  # order comes from the recurrence

    layers: Annotated[int, Field(gt=0, le=64)] = 1
    """Stacked recurrent layers inside this mixer."""
    bidirectional: bool = False
    """Run both directions (encoders), d_model / 2 features each; unidirectional mixers are causal."""
    bias: bool = True
    """Biases in the recurrent cells."""
    dropout: Probability = 0.0
    """Dropout between stacked recurrent layers."""

    def check(self, ctx: BuildContext) -> Iterable[tuple[str, str]]:
        """Shape contracts of the recurrent mixer.

        Args:
            ctx: the model's build context (``ctx.d_model``).

        Returns:
            ``(field, message)`` for a bidirectional mixer with an odd ``d_model`` (each direction gets half).
        """
        if self.bidirectional and ctx.d_model % 2:
            yield "bidirectional", f"a bidirectional mixer needs an even d_model, got {ctx.d_model}"


class LSTMParams(RecurrentParams):
    """An LSTM layer over the sequence in place of attention (hybrid recurrent/attention stacks)."""


class GRUParams(RecurrentParams):
    """A GRU layer over the sequence in place of attention (hybrid recurrent/attention stacks)."""


def build_mha(p: MultiHeadAttentionParams, ctx: BuildContext) -> nn.Module:
    """Factory of ``attention.mha``.

    Args:
        p: the validated parameters.
        ctx: the build context: ``ctx.d_model`` is the width; ``p.qk_norm`` is built with ``ctx.child``
            at the width of one head.

    Returns:
        A :class:`~blockforge.components.attention.MultiHeadAttention`, called as
        ``m(x, mask=mask, positions=positions)``.

    Raises:
        ValueError: from the module, for a head layout the parameter model could not rule out.
    """
    from blockforge.components.attention import MultiHeadAttention

    q_norm, k_norm = p._qk_norms(ctx)
    return MultiHeadAttention(
        d_model=ctx.d_model, heads=p.heads, kv_heads=p.kv_heads, head_dim=p.head_dim, bias=p.bias,
        out_bias=p.out_bias, causal=p.causal, window=p.window, softcap=p.softcap, scale=p.scale,
        q_norm=q_norm, k_norm=k_norm, qk_norm_scope=p.qk_norm_scope, dropout=p.dropout,
    )


def build_cross(p: CrossAttentionParams, ctx: BuildContext) -> nn.Module:
    """Factory of ``attention.cross_mha``.

    Args:
        p: the validated parameters.
        ctx: the build context (``ctx.d_model``; ``p.qk_norm`` built at the width of one head).

    Returns:
        A :class:`~blockforge.components.attention.CrossAttention`, called as
        ``m(x, memory=memory, memory_mask=memory_mask)``.

    Raises:
        ValueError: from the module, for a head layout the parameter model could not rule out.
    """
    from blockforge.components.attention import CrossAttention

    q_norm, k_norm = p._qk_norms(ctx)
    return CrossAttention(
        d_model=ctx.d_model, heads=p.heads, kv_heads=p.kv_heads, head_dim=p.head_dim, bias=p.bias,
        softcap=p.softcap, q_norm=q_norm, k_norm=k_norm, dropout=p.dropout,
    )


def _build_recurrent(cell: str):
    def build(p: RecurrentParams, ctx: BuildContext) -> nn.Module:
        from blockforge.components.recurrent import RecurrentMixer

        return RecurrentMixer(cell=cell, d_model=ctx.d_model, layers=p.layers,  # type: ignore[arg-type]
                              bidirectional=p.bidirectional, bias=p.bias, dropout=p.dropout)

    build.__name__ = f"build_{cell}"
    return build


def register(registry: Registrar) -> None:
    """Register the built-in attention variants and recurrent mixers."""
    registry.register("attention", "mha", params=MultiHeadAttentionParams, factory=build_mha)
    registry.register("attention", "cross_mha", params=CrossAttentionParams, factory=build_cross)
    registry.register("attention", "lstm", params=LSTMParams, factory=_build_recurrent("lstm"))
    registry.register("attention", "gru", params=GRUParams, factory=_build_recurrent("gru"))
