"""Fuzzing the spec language (issue 18, "Done when"): mutated specs, ``--set`` values, hostile scalars.

Every case must end in success or a :class:`SpecError` whose every issue is located (a source, and a
line for a file or the override's text for ``--set``); any other exception fails, as does a case over
its time bound (``CASE_SECONDS`` of CPU, five times that of wall clock) or a growth of the process's peak memory over ``PEAK_MIB``. A few CLI
runs check that no case exits 3. Cases are derandomised (the same cases on every run, so CI is stable);
``BLOCKFORGE_FUZZ_CASES`` scales them up for a longer local run, and ``-s`` prints the figures (cases,
outcomes, slowest case, peak memory growth).
"""

from __future__ import annotations

import os
import resource
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from blockforge.errors import SpecError  # noqa: E402
from blockforge.spec import load_spec  # noqa: E402
from tests.conftest import SPEC_FILES, builtin_registries  # noqa: E402

CASES = int(os.environ.get("BLOCKFORGE_FUZZ_CASES", "60"))
CASE_SECONDS = 2.0
PEAK_MIB = 200
FUZZ = settings(max_examples=CASES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

HOSTILE_SCALARS = [
    "!!bool hello", "!!int hello", "!!float hello", "!!str", "!!binary aGk=", "!!python/name:os.system",
    "9" * 5000, "-" + "9" * 400, "0x" + "f" * 4000, "0o" + "7" * 3000, "1e99999", "-.inf", ".nan", ".inf",
    "1:3", "010", "0b101", "yes", "no", "on", "OFF", "~", "null", "''", "'x'", "\"\\u0000\"", "<<",
    "[" * 300, "{a: " * 200, "*a", "&a [*a, *a]", "- x", "? a", "!<tag:x> 1", "%YAML 1.1", "---", "...",
    "a" * 20000, "\t", "é", "\U0001F600", "2**63", "1_000", "+1", "0.", ".5", "1e3", "-0",
]
SPECS = [p for p in SPEC_FILES if p.suffix in (".yaml", ".yml")][:6]
REGISTRIES = builtin_registries()
STATS: dict[str, Any] = {"outcomes": Counter(), "slowest": (0.0, ""), "rss0": None}


def _paths(tree: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix] if prefix else []
    if isinstance(tree, dict):
        for k, v in tree.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            found += _paths(v, (*prefix, i))
    return found


def _set(tree: Any, path: tuple, value: Any, how: str) -> None:
    parent = tree
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if how == "delete":
        del parent[last]
    elif how == "wrap":
        parent[last] = [parent[last]] if not isinstance(parent, list) else {"x": parent[last]}
    elif how == "extra" and isinstance(parent, dict):
        parent[f"{last}_extra"] = value
    else:
        parent[last] = value


def _run(case: str, fn) -> None:
    """Run one case: success or a located SpecError, within its time and memory bounds."""
    if STATS["rss0"] is None:
        STATS["rss0"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        fn()
        outcome = "ok"
    except SpecError as exc:
        assert exc.issues, case
        for issue in exc.issues:
            loc = issue.location
            assert loc is not None and loc.source, (case, issue)
            assert loc.line is not None or loc.source == "--set" or loc.source.startswith("<"), (case, issue)
        outcome = f"SpecError {exc.issues[0].code}"
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    STATS["outcomes"][outcome.split()[0]] += 1
    if elapsed > STATS["slowest"][0]:
        STATS["slowest"] = (elapsed, case[:120])
    assert cpu < CASE_SECONDS, f"{case[:200]} took {cpu:.1f} s of CPU"
    assert elapsed < 5 * CASE_SECONDS, f"{case[:200]} took {elapsed:.1f} s"  # shared CI cores: looser
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - STATS["rss0"]) >> 10
    assert grown < PEAK_MIB, f"peak memory grew by {grown} MiB by {case[:200]}"


value_st = st.one_of(
    st.sampled_from(HOSTILE_SCALARS),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
)


@FUZZ
@given(data=st.data())
def test_mutated_specs_are_valid_or_refused_with_locations(tmp_path_factory, data):
    spec = data.draw(st.sampled_from(SPECS), label="spec")
    tree = yaml.safe_load(spec.read_text())
    paths = _paths(tree)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        path = data.draw(st.sampled_from(paths), label="path")
        how = data.draw(st.sampled_from(["replace", "delete", "wrap", "extra", "raw"]), label="how")
        value = data.draw(value_st, label="value")
        try:
            _set(tree, path, value, how)
        except (KeyError, IndexError, TypeError):
            pass  # the path went away with an earlier mutation
        paths = _paths(tree) or [("name",)]
    text = yaml.safe_dump(tree, sort_keys=False, allow_unicode=True)
    if data.draw(st.booleans(), label="raw scalar"):  # a hostile scalar as written, not as PyYAML quotes it
        text += f"description: {data.draw(st.sampled_from(HOSTILE_SCALARS), label='raw')}\n"
    p = tmp_path_factory.mktemp("fuzz") / "spec.yaml"
    p.write_text(text)
    _run(f"{spec.name}: {text}", lambda: load_spec(p, registries=REGISTRIES))


KEYS = ["model.n_layers", "model.d_model", "model.block.attention", "model.block.attention.heads",
        "model.block.feedforward", "model.plan", "model.block", "name", "model.vocab_size", "model.block.norm",
        "model.positional", "model", "blockforge", "model.plan.overrides.0.at", "model.block.attention.window"]


@FUZZ
@given(key=st.sampled_from(KEYS), value=st.one_of(st.sampled_from(HOSTILE_SCALARS), st.text(max_size=60)),
       deep=st.integers(0, 500))
def test_set_values_are_valid_or_refused_with_locations(key, value, deep):
    if deep > 450:  # a key path of hundreds of segments
        key = ".".join(["a"] * deep)
    override = f"{key}={value}"
    _run(f"--set {override}", lambda: load_spec(SPECS[0], registries=REGISTRIES, overrides=[override]))


@pytest.mark.parametrize("text", HOSTILE_SCALARS)
def test_hostile_scalars_in_every_form(tmp_path, text):
    p = tmp_path / "s.yaml"
    p.write_text(f"extends: {SPECS[0]}\nmodel:\n  n_layers: {text}\n")
    _run(f"yaml n_layers: {text[:60]}", lambda: load_spec(p, registries=REGISTRIES))
    j = tmp_path / "s.json"
    j.write_text('{"blockforge": 1, "name": ' + (text if text.lstrip("-").isdigit() else '"x"') + "}")
    _run(f"json {text[:60]}", lambda: load_spec(j, registries=REGISTRIES))


@pytest.mark.parametrize("text", ["[" * 1000 + "]" * 1000, '{"a":' * 990 + "1" + "}" * 990])
def test_deep_json_is_refused(tmp_path, text):
    j = tmp_path / "deep.json"
    j.write_text(text)
    _run("deep json", lambda: load_spec(j, registries=REGISTRIES))


def test_cli_never_exits_3_on_hostile_input(tmp_path, capsys):
    """A handful of the cases above through the CLI's own entry point: exit 0 or 1, never 3."""
    import signal
    import sys

    from blockforge.cli import main

    files = []
    for i, text in enumerate(["9" * 5000, "!!int hello", "0x" + "f" * 4000, "[" * 300, "1:3", "yes"]):
        p = tmp_path / f"h{i}.yaml"
        p.write_text(f"extends: {SPECS[0]}\nmodel:\n  n_layers: {text}\n")
        files.append(["validate", str(p)])
    files += [["validate", str(SPECS[0]), "--set", "a." * 400 + "b=1"], ["validate", "/dev/zero"],
              ["validate", str(tmp_path)], ["schema", "-o", "/dev/null"]]
    saved = signal.getsignal(signal.SIGINT)
    for argv in files:
        sys.argv = ["blockforge", *argv]
        try:
            with pytest.raises(SystemExit) as info:
                main()
        finally:
            signal.signal(signal.SIGINT, saved)
        err = capsys.readouterr().err
        assert info.value.code in (0, 1, 2, None), (argv, err)
        assert "Traceback" not in err and "internal error" not in err, (argv, err)
    STATS["outcomes"]["cli"] += len(files)


def test_print_figures():
    """The figures of this run (``pytest -s`` shows them; the issue's note quotes them)."""
    total = sum(STATS["outcomes"].values())
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - (STATS["rss0"] or 0)) >> 10
    print(f"\nfuzz: {total} cases {dict(STATS['outcomes'])}; slowest {STATS['slowest'][0]:.3f} s "
          f"({STATS['slowest'][1][:80]!r}); peak RSS growth {grown} MiB")
    assert total == 0 or STATS["outcomes"]["ok"] + sum(
        v for k, v in STATS["outcomes"].items() if k != "ok") == total
