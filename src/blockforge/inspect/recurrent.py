"""Recurrent layers (``nn.LSTM``, ``nn.GRU``, ``nn.RNN``) measured as one batched pass instead of ``T`` steps.

A recurrence of length ``T`` runs ``T`` dependent steps. On the meta device torch runs them one by one
(several dispatched ops per step, each seen by the FLOP counter), which made a summary of a small hybrid
LSTM spec take 30 s at ``max_len`` 128 and minutes at 2048; on CPU and CUDA it runs one fused kernel
(``mkldnn_rnn``, ``_cudnn_rnn``) that the FLOP counter does not see at all, so a summary of a built model
lost the LSTM's work. Both made ``summarize(spec)`` and ``summarize(build_model(spec))`` disagree.

While probing, :class:`BatchedRecurrence` answers torch's recurrent functions (``torch.lstm``,
``torch.gru``, ``torch.rnn_tanh``, ``torch.rnn_relu``, as ``nn.LSTM`` and friends call them) with a
stand-in that runs the *same matrix multiplications* over the whole sequence at once, on every device:

* the input projection ``x W_ih^T + b_ih`` over all ``T`` steps, ``(B, T, In) x (In, G*H)``;
* the recurrent projection ``h W_hh^T + b_hh`` for the initial state (one step; no input gradient
  unless the caller's initial state needs one, as in the step-by-step recurrence) and for the ``T - 1``
  later states, ``(B, T - 1, H_out) x (H_out, G*H)``;
* the LSTM output projection ``h W_hr^T`` (``proj_size``) over all steps,

with ``G`` gates (4 LSTM, 3 GRU, 1 RNN) and per-layer, per-direction weights as torch lays them out. The
FLOPs of forward and backward are those of the step-by-step recurrence, exactly; the later states fed
back are a function of the gates of the same step (the stand-in has no sequential dependency), so the
saved tensors are per-step gates and states of the same sizes as a step-by-step run's, and the output
values are meaningless (the probe reads shapes, FLOPs and saved tensors only). Packed sequences are
passed to torch unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode

#: torch's recurrent functions -> (name, gates per step).
_RECURRENT = {
    torch.lstm: ("lstm", 4),
    torch.gru: ("gru", 3),
    torch.rnn_tanh: ("rnn_tanh", 1),
    torch.rnn_relu: ("rnn_relu", 1),
}


def _cell(
    name: str, x: Tensor, h0: Tensor, c0: Tensor | None, weights: Sequence[Tensor], has_biases: bool, gates: int,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """One layer, one direction, all steps at once. ``x``: ``(B, T, In)``; ``h0``: ``(B, H_out)``.

    Returns:
        The outputs ``(B, T, H_out)``, the last state ``(B, H_out)`` and, for an LSTM, the last cell ``(B, H)``.
    """
    w_ih, w_hh = weights[0], weights[1]
    b_ih, b_hh = (weights[2], weights[3]) if has_biases else (None, None)
    w_hr = weights[4 if has_biases else 2] if len(weights) > (4 if has_biases else 2) else None
    h = w_ih.shape[0] // gates
    h_out = w_hh.shape[1]
    gx = F.linear(x, w_ih, b_ih)  # (B, T, G*H)
    # the states fed back at steps 1..T-1, standing in for h_1..h_{T-1}: (B, T-1, H_out)
    fed = gx[:, :-1, :h_out].tanh()
    gh = torch.cat([F.linear(h0[:, None], w_hh, b_hh), F.linear(fed, w_hh, b_hh)], dim=1)  # (B, T, G*H)
    c_last = None
    if name == "lstm":
        i, f, g, o = (gx + gh).chunk(4, dim=-1)  # each (B, T, H)
        g = g.tanh()
        c_prev = torch.cat([c0[:, None], g[:, :-1]], dim=1) if c0 is not None else g  # (B, T, H)
        c = f.sigmoid() * c_prev + i.sigmoid() * g  # (B, T, H)
        y = o.sigmoid() * c.tanh()  # (B, T, H)
        c_last = c[:, -1]
        if w_hr is not None:
            y = F.linear(y, w_hr)  # (B, T, H_out)
    elif name == "gru":
        rx, zx, nx = gx.chunk(3, dim=-1)
        rh, zh, nh = gh.chunk(3, dim=-1)
        r, z = (rx + rh).sigmoid(), (zx + zh).sigmoid()  # (B, T, H)
        n = (nx + r * nh).tanh()  # (B, T, H)
        h_prev = torch.cat([h0[:, None], fed], dim=1)  # (B, T, H)
        y = (1 - z) * n + z * h_prev  # (B, T, H)
    else:
        pre = gx + gh  # (B, T, H)
        y = pre.tanh() if name == "rnn_tanh" else pre.relu()
    return y, y[:, -1], c_last


def batched_recurrence(name: str, gates: int, args: tuple[Any, ...]) -> tuple[Tensor, ...]:
    """The stand-in for ``torch.<name>(input, hx, params, has_biases, num_layers, dropout, train,
    bidirectional, batch_first)`` (see the module docstring).

    Returns:
        What torch returns: ``(output, h_n)``, and ``c_n`` for an LSTM.
    """
    x, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first = args
    directions = 2 if bidirectional else 1
    per = len(params) // (num_layers * directions)
    h_all, c_all = (hx[0], hx[1]) if name == "lstm" else (hx, None)  # (L*D, B, H_out), (L*D, B, H)
    inp = x if batch_first else x.transpose(0, 1)  # (B, T, In)
    h_n, c_n = [], []
    for layer in range(num_layers):
        outs = []
        for d in range(directions):
            k = layer * directions + d
            y, h_last, c_last = _cell(name, inp, h_all[k], c_all[k] if c_all is not None else None,
                                      params[k * per:(k + 1) * per], has_biases, gates)
            outs.append(y)
            h_n.append(h_last)
            if c_last is not None:
                c_n.append(c_last)
        inp = torch.cat(outs, dim=-1) if directions > 1 else outs[0]  # (B, T, D*H_out)
        if dropout and train and layer < num_layers - 1:
            inp = F.dropout(inp, p=dropout, training=True)
    out = inp if batch_first else inp.transpose(0, 1)
    result = (out, torch.stack(h_n))
    return (*result, torch.stack(c_n)) if name == "lstm" else result


class BatchedRecurrence(TorchFunctionMode):
    """While active, torch's recurrent functions on unpacked input run as :func:`batched_recurrence`."""

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        kwargs = kwargs or {}
        spec = _RECURRENT.get(func)
        # the unpacked form has 9 arguments and a list of weights third; packed input passes batch_sizes there
        if spec is not None and not kwargs and len(args) == 9 and isinstance(args[2], (list, tuple)):
            return batched_recurrence(spec[0], spec[1], args)
        return func(*args, **kwargs)


__all__ = ["BatchedRecurrence", "batched_recurrence"]
