"""The statistics object of a model. Plain data, torch-free: every rendering is made from it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: How attention FLOPs are counted, stated in every summary.
ATTENTION_CONVENTION = (
    "attention counts both T x T matmuls (Q K^T and P V) in full: a causal mask is not discounted "
    "(a causal kernel does about half); its backward counts 2x its forward (no recomputation), "
    "whatever the kernel"
)
#: What the FLOP counts include.
FLOP_CONVENTION = (
    "FLOPs = 2 x multiply-accumulates of matmuls, linear layers, convolutions and attention, counted "
    "at the dispatch level; element-wise ops (norms, activations, softmax, residual adds) are not counted"
)
#: How the training footprint is estimated.
MEMORY_CONVENTION = (
    "weights + gradients of trainable parameters + AdamW state (exp_avg and exp_avg_sq, in the "
    "parameter dtype) + activations = unique storages autograd saves for backward in one training-mode "
    "forward with a cross-entropy loss (attention measured as a fused flash-style kernel that saves "
    "q, k, v, output and logsumexp, not the T x T matrix); excludes the optimizer's fp32 master copy, "
    "allocator fragmentation and temporary buffers"
)


@dataclass
class ModuleRow:
    """One module of the tree.

    Attributes:
        name: dotted module path (``blocks.0.attention``); ``""`` for the root.
        type: the module's class name.
        kind: the component kind it was built as (``attention``, ``norm``, ...), or None.
        depth: nesting depth (root is 0).
        output_shape: shape of the module's (first) tensor output on the probe input, if it ran.
        params: parameters in this module's subtree, each tensor counted once.
        trainable: the trainable part of ``params``.
        flops: forward FLOPs of this module's subtree on the probe input.
    """

    name: str
    type: str
    kind: str | None
    depth: int
    output_shape: list[int] | None
    params: int
    trainable: int
    flops: int = 0


@dataclass
class KindTotal:
    """Where parameters and FLOPs go: the total of one component kind.

    Attributes:
        params: parameters owned by modules of this kind (tied tensors counted with their owner).
        flops: forward FLOPs run by modules of this kind.
    """

    params: int = 0
    flops: int = 0


@dataclass
class FlopStats:
    """FLOPs of one forward, and of one forward + backward, on ``batch x seq_len`` tokens.

    Attributes:
        forward: FLOPs of the forward pass.
        forward_backward: FLOPs of forward plus backward (gradients of inputs and trainable weights).
        tokens: tokens in the probe (``batch * seq_len``).
    """

    forward: int
    forward_backward: int
    tokens: int
    convention: str = FLOP_CONVENTION
    attention_convention: str = ATTENTION_CONVENTION

    @property
    def forward_macs(self) -> int:
        """Multiply-accumulates of the forward (FLOPs / 2)."""
        return self.forward // 2

    @property
    def forward_per_token(self) -> float:
        return self.forward / self.tokens

    @property
    def forward_backward_per_token(self) -> float:
        return self.forward_backward / self.tokens

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "forward_macs": self.forward_macs,
            "forward_per_token": self.forward_per_token,
            "forward_backward_per_token": self.forward_backward_per_token,
        }


@dataclass
class MemoryStats:
    """Memory of the model, in bytes.

    Attributes:
        weights: parameter bytes (tied tensors once).
        buffers: buffer bytes (positional tables, ...).
        gradients: bytes of the gradients of trainable parameters.
        optimizer: AdamW state (two moments per trainable parameter, in the parameter dtype).
        activations: bytes saved for backward by one training forward on the probe batch.
        kv_cache_per_token: bytes of K and V cached per token by causal attention (all layers), or
            None when the model has no causal attention.
    """

    weights: int
    buffers: int
    gradients: int
    optimizer: int
    activations: int
    kv_cache_per_token: int | None
    convention: str = MEMORY_CONVENTION

    @property
    def training(self) -> int:
        """Weights + gradients + AdamW state + activations."""
        return self.weights + self.buffers + self.gradients + self.optimizer + self.activations

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "training": self.training}


@dataclass
class Summary:
    """Statistics of a built model.

    Attributes:
        name: the spec's name.
        spec_hash: the canonical spec's hash.
        input_shape: the ``(batch, seq_len)`` the model was probed with.
        rows: the module tree, in definition order.
        total_params: unique parameter elements (tied tensors counted once).
        trainable_params: unique trainable parameter elements.
        bytes_by_dtype: parameter bytes per dtype name.
        flops: FLOPs of the probe, or None when not measured.
        memory: memory footprint, or None when not measured.
        kinds: per-kind totals (``attention``, ``feedforward``, ``embedding``, ``norm``, ..., ``other``).
        notes: what validation notes about the spec (a language model that is not causal), one sentence each.
    """

    name: str | None
    spec_hash: str | None
    input_shape: list[int]
    rows: list[ModuleRow]
    total_params: int
    trainable_params: int
    bytes_by_dtype: dict[str, int] = field(default_factory=dict)
    flops: FlopStats | None = None
    memory: MemoryStats | None = None
    kinds: dict[str, KindTotal] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes_by_dtype.values())

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready) with every statistic."""
        return {
            "name": self.name,
            "spec_hash": self.spec_hash,
            "input_shape": self.input_shape,
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "bytes_by_dtype": dict(self.bytes_by_dtype),
            "total_bytes": self.total_bytes,
            "flops": self.flops.to_dict() if self.flops else None,
            "memory": self.memory.to_dict() if self.memory else None,
            "kinds": {k: asdict(v) for k, v in self.kinds.items()},
            "notes": list(self.notes),
            "modules": [asdict(r) for r in self.rows],
        }


__all__ = ["FlopStats", "KindTotal", "MemoryStats", "ModuleRow", "Summary"]
