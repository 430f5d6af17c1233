"""The Python API says what is wrong (issue 18 item 15): a ValueError naming the argument, the value and
what is allowed, never a deep torch error or a silent wrong result."""

from __future__ import annotations

import pytest
import torch

from blockforge.build import build_model
from blockforge.errors import SpecError
from tests.conftest import SPECS_DIR

TINY = SPECS_DIR / "tiny.yaml"  # vocab_size 97, max_len 16


@pytest.fixture(scope="module")
def tiny():
    return build_model(TINY, seed=0)


@pytest.mark.parametrize("kwargs,words", [
    ({"dtype": "float16x"}, ["dtype='float16x'", "float16", "bfloat16"]),
    ({"dtype": torch.int8}, ["dtype=torch.int8", "floating-point"]),
    ({"device": "cuda:0"} if not torch.cuda.is_available() else {"device": "nosuchdevice"}, ["device="]),
    ({"device": "nosuchdevice"}, ["device='nosuchdevice'", "'cpu', 'meta'"]),
    ({"seed": 2**64}, ["seed=18446744073709551616", "0..2**64-1"]),
    ({"seed": -1}, ["seed=-1"]),
    ({"seed": 1.5}, ["seed=1.5"]),
])
def test_build_arguments_are_checked_before_anything_is_built(kwargs, words):
    with pytest.raises(ValueError) as info:
        build_model(TINY, device=kwargs.pop("device", "meta"), **kwargs)
    assert all(w in str(info.value) for w in words), str(info.value)


def test_a_dtype_name_is_accepted():
    assert build_model(TINY, device="meta", dtype="bfloat16").embedding.weight.dtype == torch.bfloat16


IDS = torch.tensor([[1, 2, 3, 96], [0, 5, 6, 7]])


@pytest.mark.parametrize("ids,words", [
    (IDS + 1, ["token id 97", "0..96", "vocab_size=97"]),
    (IDS - 1, ["token id -1", "0..96"]),
    (IDS.float(), ["integer token ids", "torch.float32"]),
    (IDS.bool(), ["torch.bool"]),
    (IDS.to(torch.int8), ["torch.int8"]),
    (IDS.tolist(), ["torch.Tensor", "got list"]),
    (IDS.to("meta"), ["ids are on meta but the model is on cpu"]),  # was all-NaN logits
])
def test_bad_ids_name_the_argument_and_what_is_allowed(tiny, ids, words):
    with pytest.raises(ValueError) as info:
        tiny(ids)
    assert all(w in str(info.value) for w in words), str(info.value)


@pytest.mark.parametrize("value", [2.0, -1.0, float("nan"), 0.5])
def test_a_mask_holds_only_zeros_and_ones(tiny, value):
    mask = torch.ones_like(IDS, dtype=torch.float32)
    mask[1, 0] = value
    with pytest.raises(ValueError, match="mask must hold only 1 \\(token\\) and 0 \\(padding\\)"):
        tiny(IDS, mask)
    tiny(IDS, mask.clamp(0, 1).round().nan_to_num(1.0))  # 0/1 floats, ints and bools are fine
    tiny(IDS, torch.ones_like(IDS, dtype=torch.bool))


def test_token_types_out_of_range_and_encoder_decoder_batches():
    bert = build_model(TINY, device="cpu", overrides=["model.embedding={type: token, token_types: 2}"])
    with pytest.raises(ValueError, match="token_types holds token id 2, outside 0..1"):
        bert(IDS, token_types=torch.full_like(IDS, 2))
    t5 = build_model(SPECS_DIR / "tiny-encoder-decoder.yaml")
    with pytest.raises(ValueError, match="decoder_ids has batch size 1 but ids has 2"):
        t5(IDS, decoder_ids=IDS[:1])


def test_aux_loss_before_the_first_forward_is_none_not_nan():
    moe = build_model(TINY, overrides=["model.block.feedforward={type: moe, experts: 4, top_k: 1, hidden: 8}"])
    assert moe.aux_loss() is None
    moe(IDS)
    assert torch.isfinite(moe.aux_loss())


def test_a_window_longer_than_max_len_is_refused():
    with pytest.raises(SpecError) as info:
        build_model(TINY, device="meta", overrides=["model.block.attention.window=17"])
    (issue,) = info.value.issues
    assert issue.path[-1] == "window" and "max_len=16" in issue.message and "at most 16" in issue.message
    build_model(TINY, device="meta", overrides=["model.block.attention.window=16"])


def test_running_out_of_memory_is_told_with_the_size_asked_for():
    """Issue 18 item 8: torch's allocation failure (a real one: 4 EiB asked of malloc) becomes a sentence."""
    from blockforge.build import out_of_memory

    with pytest.raises(RuntimeError) as info:
        torch.empty(2**62, dtype=torch.uint8)
    assert out_of_memory(info.value) == f"tried to allocate {2**62 / 2**30:.1f} GiB"
    assert out_of_memory(MemoryError()) == "out of memory"
    assert out_of_memory(RuntimeError("shape mismatch")) is None


@pytest.mark.parametrize("command", ["summary", "build"])
def test_probe_batch_is_bounded(command):
    from typer.testing import CliRunner

    from blockforge.cli import app

    r = CliRunner().invoke(app, [command, str(TINY), "--batch", str(2**63 - 1)])
    assert r.exit_code == 2 and "1048576" in r.output, r.output
