"""Issue 17 item 8: YAML syntax errors explained and located, global options after the command,
``--version``, and references used as expressions."""

from __future__ import annotations

from pathlib import Path

import pytest

from blockforge.cli.commands import hoist_global_options
from tests.cli.helpers import invoke

TINY = Path(__file__).resolve().parents[2] / "specs" / "tiny.yaml"


def _validate(tmp_path: Path, text: str) -> str:
    spec = tmp_path / "s.yaml"
    spec.write_text(text)
    result = invoke("validate", str(spec))
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return result.output


@pytest.mark.parametrize(
    ("text", "message", "where", "hint"),
    [
        ("blockforge: 1\nmodel:\n  type: lm\n\tvocab_size: 3\n", "a tab character: YAML indents with spaces only",
         "s.yaml:4:1", "replace the tab with spaces"),
        ("blockforge: 1\nmodel:\n  type: lm\n vocab_size: 3\n", "this line is indented differently",
         "s.yaml:4:2", "same column"),
        ("blockforge: 1\nmodel:\n  block:\n    feedforward: {type: mlp, hidden: ${model.d_model}}\n",
         "a ${...} reference inside { } or [ ] must be quoted", "s.yaml:4:38", "'${model.d_model}'"),
        ("blockforge: 1\nname: 'tiny\nmodel: 3\n", "a quoted string is never closed", "s.yaml:2:7", "close the quote"),
        ("blockforge: 1\nname: a: b\n", "unexpected ':'", "s.yaml:2:8", "quote a value"),
    ],
    ids=["tab", "indent", "flow-ref", "quote", "colon"],
)
def test_yaml_syntax_errors_are_explained(tmp_path: Path, text: str, message: str, where: str, hint: str) -> None:
    output = _validate(tmp_path, text)
    assert message in output and where in output and hint in output
    assert "YAML said:" in output  # PyYAML's own words are kept, after the explanation
    assert "at <root>" not in output  # no spec path to show: nothing was read


def test_caret_under_a_tab(tmp_path: Path) -> None:
    output = _validate(tmp_path, "blockforge: 1\nmodel:\n  block:\n  \tnorm: x\n")
    lines = output.splitlines()
    src = next(i for i, line in enumerate(lines) if line.startswith("4 | "))
    caret, source = lines[src + 1], lines[src]
    # the source line is '  <TAB>norm: x': the caret stands where the tab starts (after the two spaces),
    # however the terminal expands the tab
    at = caret.index("^")
    assert at == len("4 | ") + 2 and caret.count("^") == 1
    assert source[at:source.index("norm")].strip() == "" and source.index("norm") > at


@pytest.mark.parametrize(
    ("value", "hint"),
    [("'4 * ${model.d_model}'", "write the value itself: 128"),
     ("'${model.d_model * 4}'", "write the value itself, or name a value")],
)
def test_arithmetic_references_are_refused(tmp_path: Path, value: str, hint: str) -> None:
    text = TINY.read_text().replace("hidden: 64", f"hidden: {value}")
    assert value in text
    output = _validate(tmp_path, text)
    assert "is an expression; references are not evaluated" in output and hint in output


def test_interpolation_with_hyphens_is_not_arithmetic() -> None:
    from blockforge.spec import load_spec

    spec = load_spec(TINY, overrides=["name=w${model.d_model}-${model.n_layers}"])
    assert spec.name == "w32-2"


def test_global_options_after_the_command() -> None:
    ok = invoke("validate", str(TINY), "--no-plugins", "--disable-plugin", "x", "--strict-plugins")
    assert ok.exit_code == 0, ok.output
    assert hoist_global_options(["validate", "a.yaml", "--no-plugins", "--set", "x=1", "--disable-plugin=y"]) == [
        "--no-plugins", "--disable-plugin=y", "validate", "a.yaml", "--set", "x=1"]
    assert hoist_global_options(["validate", "--", "--no-plugins"]) == ["validate", "--", "--no-plugins"]
    assert hoist_global_options(["--disable-plugin", "validate", "plan", "--no-plugins"]) == [
        "--disable-plugin", "validate", "--no-plugins", "plan"]


def test_version() -> None:
    from importlib.metadata import version

    for args in (["--version"], ["validate", "--version"]):
        result = invoke(*args)
        assert result.exit_code == 0 and result.output.strip() == f"blockforge {version('blockforge')}"
