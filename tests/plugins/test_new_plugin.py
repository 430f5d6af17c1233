"""``blockforge new-plugin``: the scaffolded package installs, loads, passes its own tests, stays light."""

from __future__ import annotations

import json
import re
import sys

import pytest
from typer.testing import CliRunner

from blockforge.cli import app
from tests.plugins.conftest import CLI, pip_install, run

runner = CliRunner()


@pytest.mark.slow
def test_scaffold_installs_loads_and_passes_its_tests(tmp_path):
    target = tmp_path / "blockforge-scale_norm"
    r = runner.invoke(app, ["new-plugin", "scale_norm", "--dir", str(target)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert (target / "pyproject.toml").exists() and (target / "src/blockforge_scale_norm/plugin.py").exists()
    site = tmp_path / "site"
    pip_install(site, target)

    listing = json.loads(run([CLI, "plugins", "--format", "json"], site).stdout)
    row = next(p for p in listing["plugins"] if p["name"] == "scale_norm")
    assert row == {"name": "scale_norm", "distribution": "blockforge-scale-norm", "version": "0.1.0",
                   "status": "loaded", "stage": None, "error": None, "components": ["norm.scale_norm"]}

    tests = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], site, cwd=target)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert re.search(r"\b2 passed", tests.stdout), tests.stdout

    light = run([sys.executable, "-c", "import sys; from blockforge.registry import default_registries; "
                 "assert 'scale_norm' in default_registries()['norm']; print('torch' in sys.modules)"], site)
    assert light.stdout.strip() == "False", light.stdout + light.stderr


def test_refuses_bad_names_and_existing_folders(tmp_path):
    r = runner.invoke(app, ["new-plugin", "Bad-Name", "--dir", str(tmp_path / "x")])
    assert r.exit_code == 1 and "invalid plugin name 'Bad-Name'" in r.output
    assert not (tmp_path / "x").exists()
    (tmp_path / "taken").mkdir()
    r = runner.invoke(app, ["new-plugin", "ok", "--dir", str(tmp_path / "taken")])
    assert r.exit_code == 1 and "already exists" in r.output
    assert list((tmp_path / "taken").iterdir()) == []


def test_refuses_a_name_already_registered_and_prints_the_next_step_on_one_line(tmp_path):
    r = runner.invoke(app, ["new-plugin", "rmsnorm", "--dir", str(tmp_path / "x")])
    assert r.exit_code == 1 and "'rmsnorm' is already registered (by builtins)" in r.output
    assert not (tmp_path / "x").exists()
    target = tmp_path / ("a_rather_long_folder_name_" * 4)
    r = runner.invoke(app, ["new-plugin", "unit_norm", "--dir", str(target)])
    assert r.exit_code == 0, r.output
    assert f"pip install -e {target} && blockforge plugins && pytest {target}" in r.output.splitlines()
