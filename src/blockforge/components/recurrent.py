"""Recurrent sequence mixers (the seed's LSTM and GRU) that take attention's place in a block."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from blockforge.components.cache import MixerCache


class RecurrentMixer(nn.Module):
    """An LSTM or GRU over the sequence, called like attention: ``mixer(x, mask=, positions=)``.

    Padding: each row's tokens must be one contiguous run (right padding, left padding, or both). A
    batch with left padding is shifted so every row starts at its first token, run, and shifted back, so
    padding never flows into a real token. Unidirectional mixers are causal by construction (position
    ``t`` sees ``0..t``), so trailing padding cannot reach a token; bidirectional mixers (encoders) pack
    the sequence by the mask's lengths so the backward pass starts at each sequence's last token.
    Outputs at padding positions are unspecified. ``positions`` (RoPE/ALiBi) are ignored: order is implicit.

    State dict: ``rnn.*`` with torch's names (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ...).

    Args:
        cell: ``lstm`` or ``gru``.
        d_model: input and output width.
        layers: stacked recurrent layers inside the mixer.
        bidirectional: run both directions, ``d_model // 2`` features each (``d_model`` must be even).
        bias: biases in the recurrent cells.
        dropout: dropout between stacked recurrent layers (training only).

    Raises:
        ValueError: unknown ``cell``, non-positive sizes, or an odd ``d_model`` when bidirectional.
    """

    def __init__(
        self,
        *,
        cell: Literal["lstm", "gru"],
        d_model: int,
        layers: int = 1,
        bidirectional: bool = False,
        bias: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if cell not in ("lstm", "gru"):
            raise ValueError(f"cell must be 'lstm' or 'gru', got {cell!r}")
        if d_model <= 0 or layers <= 0 or (bidirectional and d_model % 2):
            raise ValueError(f"need positive sizes (and an even d_model if bidirectional), got {d_model}, {layers}")
        rnn_cls = nn.LSTM if cell == "lstm" else nn.GRU
        self.cell, self.bidirectional = cell, bidirectional
        hidden = d_model // 2 if bidirectional else d_model
        self.rnn = rnn_cls(d_model, hidden, num_layers=layers, bias=bias, batch_first=True,
                           dropout=dropout if layers > 1 else 0.0, bidirectional=bidirectional)

    @property
    def supports_cache(self) -> bool:
        """A unidirectional recurrence decodes step by step from its state (a bidirectional one cannot)."""
        return not self.bidirectional

    def forward(
        self,
        x: Tensor,
        *,
        mask: Tensor | None = None,
        positions: object | None = None,
        cache: MixerCache | None = None,
    ) -> Tensor:
        """Run the recurrence over the sequence.

        Args:
            x: ``(B, T, C)``.
            mask: optional ``(B, T)`` padding mask, 1 for a token and 0 for padding (either side).
            positions: ignored.
            cache: while decoding: the slot holding the recurrent state (``h``, or ``(h, c)`` for an LSTM,
                each ``(layers, B, C)``) after each row's last real token; the run continues from it.

        Returns:
            ``(B, T, C)``.

        Raises:
            ValueError: a row of ``mask`` whose tokens are not one contiguous run (padding between tokens),
                or a cache with a bidirectional recurrence.
        """
        if cache is not None:
            if self.bidirectional:
                raise ValueError("a bidirectional recurrence cannot decode with a cache")
            if mask is not None and bool(mask.all()):
                mask = None  # no padding: the plain recurrence
            y, cache.state = self._run(x, mask, cache.state, packed=mask is not None)  # (B, T, C)
            return y
        if mask is None or x.is_meta:
            y, _ = self.rnn(x)  # (B, T, C)
            return y
        y, _ = self._run(x, mask, None, packed=self.bidirectional)
        return y

    def _run(self, x: Tensor, mask: Tensor | None, state: object | None, *, packed: bool) -> tuple[Tensor, object]:
        """The recurrence from ``state``; with ``packed``, each row's final state is taken at its last token.

        Returns:
            ``(B, T, C)`` outputs and the final state.
        """
        if mask is None:
            return self.rnn(x, state)  # type: ignore[arg-type]
        t = x.shape[1]
        tokens = mask.to(torch.bool)  # (B, T)
        lengths = tokens.sum(-1)  # (B,)
        start = tokens.long().argmax(-1)  # (B,) first token (0 for an all-padding row)
        index = torch.arange(t, device=x.device)  # (T,)
        run = (index >= start[:, None]) & (index < (start + lengths)[:, None])  # (B, T)
        if not torch.equal(run, tokens):
            bad = (run != tokens).any(-1).nonzero()[0, 0].item()
            raise ValueError(f"recurrent mixers need each row's tokens to be contiguous (left or right padding); "
                             f"row {bad} of the mask is {mask[bad].tolist()}")
        left_padded = bool(start.any())
        if left_padded:  # shift each row left by its padding: (B, T) right-padded
            shift = ((index + start[:, None]) % t)[..., None].expand_as(x)  # (B, T, C)
            x = x.gather(1, shift)  # (B, T, C)
        if packed:
            seq = pack_padded_sequence(x, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
            y, state = self.rnn(seq, state)  # type: ignore[arg-type]
            y, _ = pad_packed_sequence(y, batch_first=True, total_length=t)  # (B, T, C)
        else:
            y, state = self.rnn(x, state)  # type: ignore[arg-type]  # (B, T, C)
        if left_padded:  # shift back
            unshift = ((index - start[:, None]) % t)[..., None].expand(-1, -1, y.shape[-1])  # (B, T, C)
            y = y.gather(1, unshift)  # (B, T, C)
        return y, state

    def extra_repr(self) -> str:
        return f"cell={self.cell!r}, bidirectional={self.bidirectional}"


__all__ = ["RecurrentMixer"]
