"""The command table: one place lists every command; a command's module loads only when it runs."""

from __future__ import annotations

import importlib
import json
import inspect
import subprocess
import sys

import pytest

from blockforge.cli._app import Format
from blockforge.cli.commands import COMMANDS
from tests.cli.helpers import invoke
from tests.conftest import SPECS_DIR


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_row_names_a_plain_function_with_help(name):
    module, _, attr = COMMANDS[name].partition(":")
    function = getattr(importlib.import_module(module), attr)
    assert inspect.isfunction(function) and inspect.getdoc(function)
    r = invoke(name, "--help")
    assert r.exit_code == 0 and f"blockforge {name}" in r.output


def test_help_lists_the_table_in_order():
    r = invoke("--help")
    assert r.exit_code == 0
    positions = [r.output.index(f"\u2502 {name} ") for name in COMMANDS]  # "│ name": the first column
    assert positions == sorted(positions)


def test_no_command_module_registers_itself():
    """Registration by import side effect is gone: no command module touches the app."""
    for target in COMMANDS.values():
        source = inspect.getsource(importlib.import_module(target.partition(":")[0]))
        assert "@app." not in source and "app.command" not in source, target


def test_validate_loads_only_its_own_command_module():
    code = ("import sys\nfrom blockforge.cli import main\nsys.argv = ['blockforge', 'validate', sys.argv[1]]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('blockforge.cli.')), 'torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code, str(SPECS_DIR / "tiny.yaml")], capture_output=True, text=True,
                       check=True)
    last = r.stdout.strip().splitlines()[-1]
    assert last == "['blockforge.cli._app', 'blockforge.cli.commands', 'blockforge.cli.context', " \
                   "'blockforge.cli.validate'] False", r.stdout + r.stderr


@pytest.mark.parametrize("command, good, bad", [
    ("validate", Format.json, Format.markdown),
    ("resolve", Format.json, Format.text),
    ("summary", Format.markdown, Format.yaml),
])
def test_one_format_option_each_command_its_choices(command, good, bad):
    spec = str(SPECS_DIR / "tiny.yaml")
    assert invoke(command, spec, "--format", good.value).exit_code == 0
    r = invoke(command, spec, "-f", bad.value)
    assert r.exit_code == 2 and f"{bad.value!r} is not one of" in r.output


def test_components_detail_view_of_one_component():
    # issue 17: `components mha` was "unknown kind"; now each parameter with its type, default,
    # description and an example, the owner and module, and no internal class path
    from blockforge.builtins.attention import MultiHeadAttentionParams

    r = invoke("components", "mha")
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "mha (attention)" in text and "owner: builtins" in text and "module: blockforge.builtins.attention" in text
    for name in MultiHeadAttentionParams.model_fields:  # every parameter, registry-driven
        assert name in r.output
    assert "int (> 0, <= 4096) or null" in text  # Optional's inner type and its bounds
    assert "norm component or null" in text and "example: {type: mha, heads: 2}" in text
    assert "MultiHeadAttentionParams" not in r.output
    r = invoke("components", "block", "transformer")
    assert r.exit_code == 0 and "'pre' | 'post' | 'sandwich'" in r.output  # a Literal's values
    data = json.loads(invoke("components", "mha", "--format", "json").output)
    assert data["kind"] == "attention" and {p["name"] for p in data["params"]} == set(MultiHeadAttentionParams.model_fields)
    heads = next(p for p in data["params"] if p["name"] == "heads")
    assert heads["required"] and heads["example"] == 2


def test_components_detail_unknown_and_ambiguous_names():
    r = invoke("components", "mhaa")
    assert r.exit_code == 1 and "did you mean 'mha'?" in r.output
    r = invoke("components", "none")  # a norm and a positional encoding
    assert r.exit_code == 1 and "blockforge components norm none" in r.output
    assert invoke("components", "norm", "none").exit_code == 0
