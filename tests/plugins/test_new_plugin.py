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


KINDS = ["norm", "activation", "feedforward", "positional", "embedding", "head"]


def test_every_scaffold_kind_works(tmp_path, monkeypatch):
    # issue 17: new-plugin always scaffolded a norm; --kind gives each kind a working example. Each package's
    # module is checked against its formula by its own test, and its plugin module is registered (as its
    # entry point would) and its component built and run inside a model-free build.
    import importlib

    from blockforge.build import build_component
    from blockforge.registry import load_plugins

    for kind in KINDS:
        r = runner.invoke(app, ["new-plugin", f"my_{kind}", "--kind", kind, "--dir", str(tmp_path / kind)])
        assert r.exit_code == 0, r.output
        assert f"(component {kind}.my_{kind})" in r.output
        monkeypatch.syspath_prepend(str(tmp_path / kind / "src"))
    tests = [str(tmp_path / k / "tests") for k in KINDS]
    env_path = ":".join(str(tmp_path / k / "src") for k in KINDS)
    result = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "formula", *tests], None,
                 PYTHONPATH=env_path)
    assert result.returncode == 0 and "6 passed" in result.stdout, result.stdout + result.stderr
    extra = [(f"my_{k}", importlib.import_module(f"blockforge_my_{k}.plugin")) for k in KINDS]
    registries = load_plugins(entry_points=False, strict=True, extra=extra).registries
    import torch

    for kind in KINDS:
        spec = {"type": f"my_{kind}", **({"hidden": 16} if kind == "feedforward" else {})}
        m = build_component(kind, spec, d_model=8, vocab_size=11, max_len=16, registries=registries)
        x = torch.randint(0, 11, (2, 5)) if kind == "embedding" else torch.randn(2, 5, 8)
        y = m(x, embedding=None, mask=None) if kind == "head" else m(x)
        assert y.shape == ((2, 5, 11) if kind == "head" else (2, 5, 8))
    r = runner.invoke(app, ["new-plugin", "x", "--kind", "attention", "--dir", str(tmp_path / "att")])
    assert r.exit_code == 1 and "plugins/blockforge-linformer" in r.output and not (tmp_path / "att").exists()
