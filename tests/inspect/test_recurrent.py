"""Issue 12 items 11 and 16: recurrent layers in summaries (the same figures from a spec and from a model,
in time that does not grow with the sequence), and summaries that do not import what they do not use."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

import blockforge
from blockforge.inspect import summarize
from blockforge.inspect.probe import probe
from tests.conftest import SPECS_DIR
from tests.cli.helpers import invoke

HYBRID = SPECS_DIR / "hybrid-lstm-attention.yaml"


def _lstm_flops(tokens: int, d_in: int, hidden: int, gates: int = 4) -> int:
    """Forward FLOPs of one recurrent layer (one direction): the input and recurrent matmuls of every step."""
    return 2 * tokens * gates * hidden * (d_in + hidden)


def test_hybrid_summary_of_spec_and_of_built_model_agree_and_count_the_lstm():
    """The issue's input: batch 2, length 16; the model built on CPU reported 17,039,360 forward FLOPs."""
    batch, seq, d, vocab, hidden, heads = 2, 16, 64, 512, 128, 4  # from the spec
    tokens = batch * seq
    lstm = _lstm_flops(tokens, d, d)
    attention = 2 * tokens * 4 * d * d + 2 * 2 * batch * heads * seq * seq * (d // heads)  # q, k, v, o + QK^T, PV
    swiglu = 2 * tokens * 3 * d * hidden
    head = 2 * tokens * d * vocab  # tied
    expected = 6 * lstm + 2 * attention + 8 * swiglu + head  # pattern [lstm, lstm, lstm, attention] x 2
    assert expected == 29_622_272
    from_spec = summarize(HYBRID, batch=batch, seq_len=seq)
    from_model = summarize(blockforge.build_model(HYBRID, device="cpu", seed=0), batch=batch, seq_len=seq)
    assert from_spec.flops.forward == from_model.flops.forward == expected
    assert from_model.to_dict() == from_spec.to_dict()  # every figure, backward and memory included
    rows = {r.name: r for r in from_model.rows}
    assert rows["blocks.0.attention"].flops == lstm
    assert rows["blocks.3.attention"].flops == attention


#: torch recurrent modules of every layout the stand-in handles.
RECURRENT = {
    "lstm": lambda: nn.LSTM(4, 6, batch_first=True),
    "lstm-2-layers-bidirectional-dropout": lambda: nn.LSTM(4, 6, num_layers=2, bidirectional=True, dropout=0.5,
                                                            batch_first=True),
    "lstm-proj-no-bias": lambda: nn.LSTM(4, 6, proj_size=3, bias=False, batch_first=True),
    "gru-bidirectional": lambda: nn.GRU(4, 6, bidirectional=True, batch_first=True),
    "rnn-relu-time-first": lambda: nn.RNN(4, 6, nonlinearity="relu", num_layers=2),
    "rnn-tanh": lambda: nn.RNN(4, 6, batch_first=True),
}


class _Wrap(nn.Module):
    """``ids -> (B, T, C)`` through an embedding and one recurrent module (what the probe takes)."""

    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.embedding, self.rnn = nn.Embedding(11, 4), rnn

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embedding(ids)  # (B, T, 4)
        if not self.rnn.batch_first:
            return self.rnn(x.transpose(0, 1))[0].transpose(0, 1)
        return self.rnn(x)[0]


def _step_by_step(model: nn.Module, ids: torch.Tensor) -> tuple[int, int, list[int]]:
    """Reference: torch's own step-by-step recurrence on meta, under torch's FLOP counter, no stand-in."""
    model = model.to("meta").train()
    counter = FlopCounterMode(display=False)
    with counter:
        out = model(ids.to("meta"))
        forward = counter.get_total_flops()
        torch.autograd.grad(out.float().sum(), [p for p in model.parameters()], allow_unused=True)
    return forward, counter.get_total_flops(), list(out.shape)


@pytest.mark.parametrize("name", list(RECURRENT))
def test_batched_recurrence_counts_the_step_by_step_flops_on_cpu_and_meta(name):
    torch.manual_seed(0)
    model = _Wrap(RECURRENT[name]())
    ids = torch.randint(0, 11, (2, 5))
    forward, forward_backward, shape = _step_by_step(_Wrap(RECURRENT[name]()), ids)
    cpu = probe(model, ids)
    meta = probe(model.to("meta"), ids.to("meta"))
    assert cpu.forward == meta.forward == forward > 0
    assert cpu.forward_backward == meta.forward_backward == forward_backward
    assert cpu.shapes[""] == meta.shapes[""] == shape


def _dispatched_ops(spec, max_len: int) -> int:
    """How many aten ops a summary of ``spec`` at ``max_len`` dispatches (its cost, without timing it)."""

    class Count(TorchDispatchMode):
        n = 0

        @classmethod
        def _should_skip_dynamo(cls) -> bool:
            return False

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
            Count.n += 1
            return func(*args, **(kwargs or {}))

    loaded = blockforge.load_spec(spec, overrides=[f"model.max_len={max_len}"])
    with Count():
        s = summarize(loaded)
    assert s.input_shape == [1, max_len]
    return Count.n


def test_lstm_summary_work_does_not_grow_with_the_sequence():
    """A summary of the hybrid LSTM spec at max_len 2048 runs as many ops as at 128 (the recurrence ran one
    step at a time, 30 s at 128 and 185 s at 2048); its FLOPs still scale with the length."""
    assert _dispatched_ops(HYBRID, 2048) == _dispatched_ops(HYBRID, 128)
    long = summarize(blockforge.load_spec(HYBRID, overrides=["model.max_len=2048"]))
    rows = {r.name: r for r in long.rows}
    assert rows["blocks.0.attention"].flops == _lstm_flops(2048, 64, 64)


def test_summary_and_diff_import_no_dynamo():
    """A first summary imported torch._dynamo (1.5 s or more on top of import torch)."""
    code = (
        "import sys, blockforge\n"
        f"blockforge.summarize({str(HYBRID)!r})\n"
        f"blockforge.summarize({str(SPECS_DIR / 'tiny-moe-parallel.yaml')!r})\n"
        "print(sorted(m for m in ('torch._dynamo', 'torch._inductor') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_diff_counts_parameters_without_the_flop_probe(monkeypatch):
    """diff ran a whole summary (the FLOP probe) per side just to count parameters."""
    import blockforge.inspect.probe as probe_module

    def refuse(*args, **kwargs):
        raise AssertionError("diff ran the FLOP probe")

    monkeypatch.setattr(probe_module, "probe", refuse)
    monkeypatch.setattr(probe_module, "_run", refuse)
    r = invoke("diff", str(SPECS_DIR / "tiny.yaml"), str(HYBRID), "--format", "json")
    assert r.exit_code == 0, r.output
    params = json.loads(r.output)["params"]
    expected = [sum(p.numel() for p in set(blockforge.build_model(s, device="meta").parameters()))
                for s in (SPECS_DIR / "tiny.yaml", HYBRID)]
    assert [params["a"], params["b"]] == expected
    assert params["change"] == expected[1] - expected[0]
