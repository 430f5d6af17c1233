"""The plugin module named by the entry point. Torch-free at import."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from blockforge import BuildContext, Params, hookimpl

if TYPE_CHECKING:
    from torch import nn


class DyTParams(Params):
    """Dynamic Tanh: gamma * tanh(alpha * x) + beta, a drop-in replacement for a norm layer."""

    alpha_init: Annotated[float, Field(gt=0.0)] = 0.5
    """Initial value of the learned scalar alpha."""


def build_dyt(p: DyTParams, ctx: BuildContext) -> nn.Module:
    from blockforge_dyt.module import DynamicTanh

    return DynamicTanh(d_model=ctx.d_model, alpha_init=p.alpha_init)


@hookimpl
def blockforge_register_components(registry):
    registry.register("norm", "dyt", params=DyTParams, factory=build_dyt)
