"""The single-process parts of blockforge.distributed: FSDP units, wrapping rules, launcher arguments,
checkpoint errors and atomicity."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import blockforge
from blockforge.distributed.checkpoint import load_checkpoint, save_checkpoint
from blockforge.distributed.env import DistEnv, init_distributed, launched
from blockforge.distributed.launch import torchrun_args
from blockforge.distributed.wrap import block_units, parallelize
from blockforge.errors import BlockforgeError
from blockforge.spec.parallel import Parallel
from tests.conftest import SPECS_DIR
from tests.distributed import _loop as L


@pytest.mark.parametrize("name", ["tiny.yaml", "tiny-encoder-decoder.yaml"])
def test_block_units_are_the_top_level_blocks(name: str) -> None:
    model = blockforge.build_model(SPECS_DIR / name, device="meta")
    units = block_units(model)
    named = {id(m): n for n, m in model.named_modules()}
    expected = [n for n, m in model.named_modules() if getattr(m, "blockforge_kind", None) == "block"]
    assert [named[id(u)] for u in units] == [n for n in expected if not any(
        n.startswith(o + ".") for o in expected)]
    assert len(units) >= 2


def test_not_launched_is_one_process_without_a_process_group() -> None:
    assert not launched({})
    env = init_distributed(device="cpu", environ={})
    assert (env.rank, env.world_size, env.distributed, env.is_main) == (0, 1, False, True)
    model = L.build()
    assert parallelize(model, Parallel(strategy="fsdp"), env) is model  # one rank: nothing to shard


def test_several_processes_without_a_strategy_are_refused() -> None:
    env = DistEnv(rank=0, world_size=2, backend="gloo")
    with pytest.raises(BlockforgeError, match="parallel.strategy=ddp or fsdp"):
        parallelize(L.build(), None, env)


def test_malformed_launcher_variables_are_a_user_error() -> None:
    with pytest.raises(BlockforgeError, match="RANK='x'"):
        init_distributed(device="cpu", environ={"RANK": "x", "WORLD_SIZE": "2", "LOCAL_RANK": "0"})


def test_torchrun_arguments_run_the_module() -> None:
    args = torchrun_args(4, ["train", "s.yaml", "--out", "run"])
    from torch.distributed.run import parse_args

    parsed = parse_args(args)
    assert parsed.nproc_per_node == "4" and parsed.module and parsed.standalone
    assert parsed.training_script == "blockforge"
    assert parsed.training_script_args == ["train", "s.yaml", "--out", "run"]
    with pytest.raises(BlockforgeError, match="--nproc must be >= 1"):
        torchrun_args(0, [])


def test_checkpoint_round_trip_is_atomic_and_exact(tmp_path: Path) -> None:
    model = L.build()
    opt = L.optimizer(model)
    L.train(model, opt, L.batches(), steps=range(2))
    save_checkpoint(tmp_path / "ck", model, opt)
    save_checkpoint(tmp_path / "ck", model, opt)  # replaces
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]  # no .partial left behind
    fresh = L.build()
    fresh_opt = L.optimizer(fresh)
    load_checkpoint(tmp_path / "ck", fresh, fresh_opt)
    assert L.max_diff(L.full_params(fresh), L.full_params(model)) == 0.0
    a = opt.state_dict()["state"][0]["exp_avg_sq"]
    b = fresh_opt.state_dict()["state"][0]["exp_avg_sq"]
    assert torch.equal(a, b) and a.abs().sum() > 0


def test_checkpoint_errors_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(BlockforgeError, match="not a sharded checkpoint"):
        load_checkpoint(tmp_path, L.build())
    save_checkpoint(tmp_path / "ck", L.build())
    other = blockforge.build_model({**L.SPEC, "model": {**L.SPEC["model"], "d_model": 64}}, seed=0)
    with pytest.raises(BlockforgeError, match="cannot load into this model"):
        load_checkpoint(tmp_path / "ck", other)
