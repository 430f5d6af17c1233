"""Per-rank planning (``summary --parallel``) against the ZeRO paper's accounting and against the spec."""

from __future__ import annotations

import json

import pytest

from blockforge.inspect import summarize
from blockforge.inspect.parallel import parse_parallel, plan_parallel, unit_params
from blockforge.inspect.stats import MemoryStats, ModuleRow, Summary
from tests.cli.helpers import invoke
from tests.conftest import SPECS_DIR

GB = 1e9


def _paper_model(psi: int, *, blocks: int = 100, root: int = 0) -> Summary:
    """A float32 model of ``psi`` parameters: ``blocks`` equal blocks plus ``root`` parameters outside them."""
    per = (psi - root) // blocks
    rows = [ModuleRow("", "LM", "model", 0, None, psi, psi)]
    rows += [ModuleRow(f"blocks.{i}", "Block", "block", 2, None, per, per) for i in range(blocks)]
    rows += [ModuleRow(f"blocks.{i}.attention", "MHA", "attention", 3, None, per // 2, per // 2) for i in range(2)]
    mem = MemoryStats(weights=4 * psi, buffers=0, gradients=4 * psi, optimizer=8 * psi, activations=0,
                      kv_cache_per_token=None)
    return Summary("paper", None, [1, 1024], rows, psi, psi, {"float32": 4 * psi}, None, mem)


def test_model_states_match_the_zero_paper_table_1() -> None:
    """ZeRO (Rajbhandari et al. 2020), Table 1: Ψ = 7.5B, N_d = 64, K = 12 with 2 + 2 bytes of fp16 weights
    and gradients: 16Ψ = 120 GB per rank for data parallelism, 16Ψ/N_d = 1.88 GB for P_os+g+p (ZeRO-3).
    blockforge's float32 AdamW also holds 4 + 4 + 8 = 16 bytes per parameter."""
    s = _paper_model(7_500_000_000)
    ddp = plan_parallel(s, strategy="ddp", world_size=64)
    fsdp = plan_parallel(s, strategy="fsdp", world_size=64)
    assert ddp.model_states / GB == pytest.approx(120.0)
    assert fsdp.model_states / GB == pytest.approx(1.875)
    assert round(fsdp.model_states / GB, 2) == 1.88
    assert ddp.gathered == 0 and fsdp.gathered > 0


def test_communication_is_2psi_for_ddp_and_3psi_for_fsdp() -> None:
    """ZeRO section 7: DP all-reduce moves 2Ψ per rank; ZeRO-3 moves 3Ψ (1.5x): all-gather forward,
    all-gather backward, reduce-scatter; in bytes of each element, (N-1)/N of a ring."""
    psi, n = 1_000_000_000, 8
    s = _paper_model(psi, root=0)
    ddp = plan_parallel(s, strategy="ddp", world_size=n)
    fsdp = plan_parallel(s, strategy="fsdp", world_size=n)
    keep = plan_parallel(s, strategy="fsdp", world_size=n, reshard_after_forward=False)
    ring = (n - 1) / n
    assert ddp.sent_per_step == pytest.approx(2 * psi * 4 * ring, rel=1e-9)
    assert fsdp.sent_per_step == pytest.approx(3 * psi * 4 * ring, rel=1e-9)
    assert fsdp.sent_per_step / ddp.sent_per_step == pytest.approx(1.5)
    assert keep.sent_per_step == pytest.approx(2 * psi * 4 * ring, rel=1e-9)  # no backward all-gather
    # the root unit is not gathered again in backward; micro-batches repeat fsdp's collectives
    rooted = plan_parallel(_paper_model(psi, root=psi // 10), strategy="fsdp", world_size=n, accumulation=3)
    assert rooted.sent_per_step == pytest.approx(3 * (3 * psi - psi // 10) * 4 * ring, rel=1e-6)
    assert plan_parallel(s, strategy="ddp", world_size=n).sent_per_step == ddp.sent_per_step  # once a step


def test_mixed_precision_gathers_in_param_dtype_and_reduces_in_reduce_dtype() -> None:
    psi, n = 1_000_000_000, 4
    s = _paper_model(psi)
    mp = plan_parallel(s, strategy="fsdp", world_size=n, param_dtype="bfloat16", reduce_dtype="float32")
    full = plan_parallel(s, strategy="fsdp", world_size=n)
    ring = (n - 1) / n
    assert mp.sent_per_step == pytest.approx((2 * psi * 2 + psi * 4) * ring, rel=1e-9)
    assert mp.model_states == full.model_states  # shards and AdamW state stay in the parameters' dtype
    assert mp.gathered < full.gathered


def test_plan_of_a_spec_counts_its_units_and_probe() -> None:
    s = summarize(SPECS_DIR / "tiny.yaml", batch=2, seq_len=8)
    units = unit_params(s)
    assert len(units) == 3 and sum(units) == s.total_params  # two blocks + the root's remainder
    ddp = plan_parallel(s, strategy="ddp", world_size=4)
    fsdp = plan_parallel(s, strategy="fsdp", world_size=4)
    assert ddp.weights == s.memory.weights and ddp.optimizer == s.memory.optimizer
    assert fsdp.weights == -(-s.memory.weights // 4) and fsdp.optimizer == -(-s.memory.optimizer // 4)
    assert fsdp.activations == ddp.activations == s.memory.activations  # data parallel: not sharded
    assert (fsdp.micro_batch, fsdp.seq_len) == (2, 8)


@pytest.mark.parametrize("bad", ["fsdp", "fsdp:0", "zero3:8", "ddp:x", "tp:8"])
def test_parse_refuses(bad: str) -> None:
    with pytest.raises(ValueError, match="tensor parallelism" if bad.startswith("tp") else "ddp:N or fsdp:N"):
        parse_parallel(bad)


def test_summary_cli_parallel_json_text_and_spec_options() -> None:
    spec = str(SPECS_DIR / "tiny.yaml")
    res = invoke("summary", spec, "--parallel", "fsdp:2", "-f", "json",
                 "--set", "parallel.strategy=fsdp", "--set", "parallel.mixed_precision.param_dtype=bfloat16")
    assert res.exit_code == 0, res.output
    plan = json.loads(res.output)["parallel"]
    assert plan["strategy"] == "fsdp" and plan["world_size"] == 2 and plan["param_dtype"] == "bfloat16"
    assert plan["total"] == plan["model_states"] + plan["gathered"] + plan["buffers"] + plan["activations"]
    text = invoke("summary", spec, "--parallel", "ddp:8", "--depth", "0")
    assert text.exit_code == 0 and "per rank at ddp:8" in text.output and "sent per rank per step" in text.output
    bad = invoke("summary", spec, "--parallel", "tp:2")
    assert bad.exit_code == 2 and "not supported yet" in bad.output


def test_activation_checkpointing_keeps_block_inputs_and_one_block() -> None:
    """Per-block checkpointing: the logits kept for the loss + one block's share of the rest (recomputed)
    + one (B, T, d_model) input per block; computed here from the probe's shapes."""
    s = summarize(SPECS_DIR / "tiny.yaml", batch=2, seq_len=8)
    b, t, d, v, n = 2, 8, 32, 97, 2
    logits = 4 * b * t * v
    expected = logits + (s.memory.activations - logits) // n + n * 4 * b * t * d
    plan = plan_parallel(s, strategy="fsdp", world_size=2, activation_checkpointing=True)
    assert plan.activations == expected < s.memory.activations + n * 4 * b * t * d
    assert plan_parallel(s, strategy="ddp", world_size=2).activations == s.memory.activations
