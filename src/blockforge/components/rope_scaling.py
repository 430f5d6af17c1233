"""RoPE inverse frequencies, with the context-extension variants of published checkpoints.

``rope_inverse_frequencies`` returns the ``(rotary_dim / 2,)`` inverse frequencies ``theta_i`` (angles are
``position * theta_i``) and the factor that multiplies ``cos`` and ``sin``. Each variant follows its
paper and, operation for operation, transformers' ``modeling_rope_utils`` (so float64 models agree with
theirs to 1e-10: the frequencies are computed in float32 there, and here):

- ``linear``: position interpolation (Chen et al. 2023, "Extending Context Window of Large Language
  Models via Positional Interpolation"): ``theta_i / factor``.
- ``dynamic``: dynamic NTK scaling (bloc97, emozilla): the base grows with the sequence once it passes
  ``max_len``: ``base * (factor * L / max_len - (factor - 1)) ** (d / (d - 2))``.
- ``yarn``: YaRN (Peng et al. 2023): a ramp between interpolated and original frequencies over the
  dimensions whose wavelength lies between ``beta_fast`` and ``beta_slow`` rotations in the original
  context; ``cos``/``sin`` scaled by ``0.1 * ln(factor) + 1`` unless ``attention_factor`` is given.
- ``llama3``: Llama 3.1's frequency-dependent interpolation (long wavelengths divided by ``factor``,
  short ones kept, smooth in between: ``low_freq_factor``/``high_freq_factor``).
- ``longrope``: LongRoPE (Ding et al. 2024; Phi-3): per-dimension factors, ``short_factor`` up to
  ``original_max_len`` positions and ``long_factor`` beyond; ``cos``/``sin`` scaled by
  ``sqrt(1 + ln(factor) / ln(original_max_len))`` unless ``attention_factor`` is given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

ScalingType = Literal["default", "linear", "dynamic", "yarn", "llama3", "longrope"]


@dataclass(frozen=True)
class RopeScaling:
    """How RoPE's frequencies are scaled (see the module docstring for each ``type``).

    Attributes:
        type: the variant; ``default`` leaves the frequencies alone.
        factor: the context-extension factor (linear, dynamic, yarn, llama3, longrope).
        max_len: the model's context (dynamic: where the base starts to grow).
        original_max_len: the pre-training context (yarn, llama3, longrope).
        low_freq_factor, high_freq_factor: llama3's wavelength bounds, ``original_max_len / f``.
        beta_fast, beta_slow: yarn's ramp bounds, in rotations.
        attention_factor: the ``cos``/``sin`` scale (yarn, longrope); None: the paper's default.
        mscale, mscale_all_dim: yarn's alternative attention factor (DeepSeek).
        truncate: yarn rounds the ramp's bounds to whole dimensions.
        short_factor, long_factor: longrope's per-dimension factors, ``rotary_dim / 2`` each.
    """

    type: ScalingType = "default"
    factor: float = 1.0
    max_len: int = 0
    original_max_len: int = 0
    low_freq_factor: float = 1.0
    high_freq_factor: float = 4.0
    beta_fast: float = 32.0
    beta_slow: float = 1.0
    attention_factor: float | None = None
    mscale: float | None = None
    mscale_all_dim: float | None = None
    truncate: bool = True
    short_factor: tuple[float, ...] = ()
    long_factor: tuple[float, ...] = ()

    @property
    def length_dependent(self) -> bool:
        """Whether the frequencies depend on the sequence length (dynamic, longrope)."""
        return self.type in ("dynamic", "longrope")


def _base_frequencies(base: float, dim: int, device: torch.device | None) -> Tensor:
    exponents = torch.arange(0, dim, 2, dtype=torch.int64).to(device=device, dtype=torch.float) / dim  # (dim/2,)
    return 1.0 / (base**exponents)  # (dim/2,)


def rope_inverse_frequencies(
    *, rotary_dim: int, theta: float, scaling: RopeScaling | None = None, seq_len: int | None = None,
    device: torch.device | None = None,
) -> tuple[Tensor, float]:
    """The inverse frequencies of RoPE and the ``cos``/``sin`` scale.

    Args:
        rotary_dim: the number of rotated features of a head (even).
        theta: the frequency base.
        scaling: the variant and its parameters; None is ``default``.
        seq_len: the number of positions of this forward pass (``max position + 1``); used by
            ``dynamic`` and ``longrope`` only.
        device: where the frequencies are built.

    Returns:
        ``(inv_freq, attention_factor)``: ``(rotary_dim / 2,)`` float32, and a Python float.

    Raises:
        ValueError: ``longrope`` factors of the wrong length, or an unknown type.
    """
    s = scaling or RopeScaling()
    dim = rotary_dim
    if s.type == "default":
        return _base_frequencies(theta, dim, device), 1.0
    if s.type == "linear":
        inv_freq = _base_frequencies(theta, dim, device)
        inv_freq /= s.factor
        return inv_freq, 1.0
    if s.type == "dynamic":
        length = max(seq_len or s.max_len, s.max_len)
        base = theta * ((s.factor * length / s.max_len) - (s.factor - 1)) ** (dim / (dim - 2))
        return _base_frequencies(base, dim, device), 1.0
    if s.type == "llama3":
        inv_freq = _base_frequencies(theta, dim, device)
        low_wavelen = s.original_max_len / s.low_freq_factor
        high_wavelen = s.original_max_len / s.high_freq_factor
        wavelen = 2 * math.pi / inv_freq  # (dim/2,)
        scaled = torch.where(wavelen > low_wavelen, inv_freq / s.factor, inv_freq)
        smooth = (s.original_max_len / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor)
        smoothed = (1 - smooth) * scaled / s.factor + smooth * scaled
        medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
        return torch.where(medium, smoothed, scaled), 1.0
    if s.type == "yarn":
        return _yarn(s, theta, dim, device)
    if s.type == "longrope":
        return _longrope(s, theta, dim, seq_len, device)
    raise ValueError(f"unknown RoPE scaling type {s.type!r}")


def _yarn(s: RopeScaling, base: float, dim: int, device: torch.device | None) -> tuple[Tensor, float]:
    def mscale(scale: float, m: float = 1.0) -> float:
        return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

    factor = s.factor
    attention = s.attention_factor
    if attention is None:
        attention = (float(mscale(factor, s.mscale) / mscale(factor, s.mscale_all_dim))
                     if s.mscale and s.mscale_all_dim else mscale(factor))

    def correction_dim(rotations: float) -> float:
        return (dim * math.log(s.original_max_len / (rotations * 2 * math.pi))) / (2 * math.log(base))

    low, high = correction_dim(s.beta_fast), correction_dim(s.beta_slow)
    if s.truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001  # as transformers: no division by zero
    ramp = torch.clamp((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low), 0, 1)  # (dim/2,)
    pos_freqs = base ** (torch.arange(0, dim, 2).to(device=device, dtype=torch.float) / dim)  # (dim/2,)
    extrapolation, interpolation = 1.0 / pos_freqs, 1.0 / (factor * pos_freqs)
    keep = 1 - ramp.to(device=device, dtype=torch.float)  # (dim/2,) 1: original frequency
    return interpolation * (1 - keep) + extrapolation * keep, attention


def _longrope(
    s: RopeScaling, base: float, dim: int, seq_len: int | None, device: torch.device | None
) -> tuple[Tensor, float]:
    factor = s.factor
    attention = s.attention_factor
    if attention is None:
        attention = 1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(s.original_max_len))
    factors = s.long_factor if seq_len and seq_len > s.original_max_len else s.short_factor
    if len(factors) != dim // 2:
        raise ValueError(f"longrope needs rotary_dim/2 = {dim // 2} factors, got {len(factors)}")
    ext = torch.tensor(factors, dtype=torch.float32, device=device)  # (dim/2,)
    shape = torch.arange(0, dim, 2, dtype=torch.int64, device=device).float() / dim  # (dim/2,)
    return 1.0 / (ext * base**shape), attention
