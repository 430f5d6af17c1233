"""The plugin module named by the entry point: parameter model, factory and hook. Torch-free at import."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, ClassVar

from pydantic import ConfigDict, Field

from blockforge import BuildContext, Params, hookimpl
from blockforge.spec import PositionUse

if TYPE_CHECKING:  # only for the annotation; torch is imported when a model is built
    from torch import nn


class LinformerParams(Params):
    """Linformer self-attention: keys and values projected along the sequence to length k (O(T*k))."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"heads": 2, "seq_len": 8, "k": 4}, {"heads": 4, "seq_len": 16, "k": 8, "share_kv": True}]}
    )

    # Linformer ignores the positions= (RoPE/ALiBi) it is called with and is order-blind by itself: with
    # positional: rope or alibi, blockforge refuses the spec and asks for learned or sinusoidal positions.
    uses_positions: ClassVar[PositionUse] = "ignores"

    heads: Annotated[int, Field(gt=0)]
    """Number of attention heads; must divide d_model."""
    seq_len: Annotated[int, Field(gt=0)]
    """Longest sequence the projections cover; must be at least the model's max_len."""
    k: Annotated[int, Field(gt=0)]
    """Projected length of keys and values (the rank); at most seq_len."""
    share_kv: bool = False
    """Use one projection for keys and values (the paper's key-value sharing)."""
    bias: bool = True
    """Biases on the QKV and output projections."""
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    """Dropout on the attention probabilities."""

    def check(self, ctx: BuildContext) -> Iterable[tuple[str, str]]:
        """Shape contracts against the model.

        Args:
            ctx: the model's build context (``d_model``, ``max_len``).

        Returns:
            ``(field, message)`` for each broken contract.
        """
        if ctx.d_model % self.heads:
            yield "heads", f"d_model={ctx.d_model} is not divisible by heads={self.heads}"
        if self.seq_len < ctx.max_len:
            yield "seq_len", f"seq_len={self.seq_len} is shorter than the model's max_len={ctx.max_len}"
        if self.k > self.seq_len:
            yield "k", f"k={self.k} is larger than seq_len={self.seq_len}; a low-rank projection needs k <= seq_len"

    def sees_future(self, ctx: BuildContext) -> str | None:
        """Linformer is never causal: its projection mixes every position into each key and value.

        blockforge names a language model (``type: lm``) built with it as not causal; use it in an
        ``encoder``.
        """
        return "projects keys and values over the whole sequence"


def build_linformer(p: LinformerParams, ctx: BuildContext) -> nn.Module:
    """Build the module (torch is imported here, not at the top of this module).

    Args:
        p: the validated parameters.
        ctx: the build context (``ctx.d_model`` is the width).

    Returns:
        A :class:`~blockforge_linformer.module.LinformerAttention`.
    """
    from blockforge_linformer.module import LinformerAttention

    return LinformerAttention(
        d_model=ctx.d_model, heads=p.heads, seq_len=p.seq_len, k=p.k, share_kv=p.share_kv, bias=p.bias,
        dropout=p.dropout,
    )


@hookimpl
def blockforge_register_components(registry):
    registry.register("attention", "linformer", params=LinformerParams, factory=build_linformer)
