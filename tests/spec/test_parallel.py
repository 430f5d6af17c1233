"""The ``parallel:`` section: validated and located like the rest; the per-rank split of a global batch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from blockforge.errors import Location, SpecError
from blockforge.spec import load_document, load_spec, spec_hash
from blockforge.spec.parallel import rank_batches
from tests.conftest import SPECS_DIR

TINY = SPECS_DIR / "tiny.yaml"


def _issues(registries, *overrides: str, source=TINY) -> list:
    with pytest.raises(SpecError) as info:
        load_spec(source, registries=registries, overrides=overrides)
    return info.value.issues


def test_set_parallel_strategy_and_options(registries) -> None:
    spec = load_spec(TINY, registries=registries, overrides=["parallel.strategy=fsdp",
                                                             "parallel.reshard_after_forward=false",
                                                             "parallel.mixed_precision={}"])
    assert spec.parallel.strategy == "fsdp" and spec.parallel.reshard_after_forward is False
    assert (spec.parallel.mixed_precision.param_dtype, spec.parallel.mixed_precision.reduce_dtype) == (
        "bfloat16", "float32")
    assert load_spec(TINY, registries=registries).parallel is None


def test_parallel_does_not_change_the_architecture_hash(registries) -> None:
    plain = load_spec(TINY, registries=registries)
    fsdp = load_spec(TINY, registries=registries, overrides=["parallel.strategy=fsdp"])
    assert spec_hash(plain) == spec_hash(fsdp)


def test_errors_are_located_in_the_file(tmp_path: Path, registries) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(TINY.read_text() + "parallel:\n  strategy: fsdb\n  reshard: true\n")
    got = {i.path: i for i in _issues(registries, source=path)}
    typo = got[("parallel", "strategy")]
    assert typo.location.source == str(path) and typo.location.line == TINY.read_text().count("\n") + 2
    assert "'fsdp'" in typo.hint
    assert "reshard_after_forward" in got[("parallel", "reshard")].hint


def test_tensor_parallelism_is_refused_with_a_reason(registries) -> None:
    (issue,) = _issues(registries, "parallel.strategy=tp")
    assert issue.path == ("parallel", "strategy") and "not supported yet" in issue.message
    assert issue.location is not None and "parallel.strategy=tp" in (issue.location.text or "")


def test_mixed_precision_only_with_fsdp(registries) -> None:
    (issue,) = _issues(registries, "parallel.strategy=ddp", "parallel.mixed_precision.param_dtype=bfloat16")
    assert issue.path == ("parallel", "mixed_precision") and "applies to strategy: fsdp" in issue.message
    (issue,) = _issues(registries, "parallel.strategy=fsdp", "parallel.mixed_precision.param_dtype=fp8")
    assert issue.path == ("parallel", "mixed_precision", "param_dtype")


@pytest.mark.parametrize(("batch", "world", "micro", "expected"), [
    (32, 4, None, (8, 1)), (32, 4, 2, (2, 4)), (32, 1, 4, (4, 8)), (6, 2, 3, (3, 1)), (1, 1, None, (1, 1)),
])
def test_rank_batches_keep_the_global_batch(batch: int, world: int, micro, expected) -> None:
    got = rank_batches(global_batch=batch, world_size=world, micro_batch=micro)
    assert (got.micro_batch, got.accumulation) == expected
    assert got.world_size * got.per_rank == batch


def test_a_global_batch_that_does_not_divide_is_a_located_error(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("blockforge: 1\ntraining:\n  batch_size: 30\n")
    doc = load_document(path)
    with pytest.raises(SpecError) as info:
        rank_batches(global_batch=30, world_size=4, micro_batch=2, locate=doc.locate)
    (issue,) = info.value.issues
    assert issue.path == ("training", "batch_size") and "world size 4 x micro-batch 2 = 8" in issue.message
    assert issue.location == doc.locate(("training", "batch_size")) and issue.location.line == 3
    assert "24 or 32" in issue.hint
    with pytest.raises(SpecError, match="does not divide by the world size 4"):
        rank_batches(global_batch=6, world_size=4, locate=lambda p: Location("x"))


def test_parallel_section_is_torch_free() -> None:
    code = ("import sys; from blockforge.spec import load_spec; "
            f"load_spec({str(TINY)!r}, overrides=['parallel.strategy=fsdp']); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
