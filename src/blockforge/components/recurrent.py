"""Recurrent sequence mixers (the seed's LSTM and GRU) that take attention's place in a block."""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class RecurrentMixer(nn.Module):
    """An LSTM or GRU over the sequence, called like attention: ``mixer(x, mask=, positions=)``.

    Unidirectional mixers are causal by construction (position ``t`` sees ``0..t``) and, with right
    padding, padding never reaches a real token, so the padding mask is not needed. Bidirectional mixers
    (encoders) pack the sequence by the mask's lengths (right padding assumed) so the backward pass
    starts at each sequence's last token. ``positions`` (RoPE/ALiBi) are ignored: order is implicit.

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

    def forward(self, x: Tensor, *, mask: Tensor | None = None, positions: object | None = None) -> Tensor:
        """Args: x: ``(B, T, C)``; mask: optional ``(B, T)`` padding mask; positions: ignored.

        Returns:
            ``(B, T, C)``.
        """
        if self.bidirectional and mask is not None and not x.is_meta:
            lengths = mask.sum(-1).clamp(min=1).cpu()  # (B,)
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            y, _ = self.rnn(packed)
            y, _ = pad_packed_sequence(y, batch_first=True, total_length=x.shape[1])  # (B, T, C)
            return y
        y, _ = self.rnn(x)  # (B, T, C)
        return y

    def extra_repr(self) -> str:
        return f"cell={self.cell!r}, bidirectional={self.bidirectional}"


__all__ = ["RecurrentMixer"]
