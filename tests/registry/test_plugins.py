"""Plugin discovery and fault isolation, with real (fake) distributions found through entry points.

Each fake plugin is a ``*.dist-info`` folder (name, version, ``blockforge`` entry point) and a
module, in a temporary folder put on ``sys.path``: exactly what ``pip install`` leaves behind.
"""

from __future__ import annotations

import json
import logging
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from blockforge.cli import app
from blockforge.errors import PluginError
from blockforge.registry import load_plugins
from blockforge.registry import plugins as plugins_mod
from tests.conftest import SPECS_DIR

HEADER = """
from blockforge import Params, hookimpl
from pydantic import ConfigDict

class P(Params):
    '''A test norm.'''

def factory(p, ctx):
    from torch import nn
    return nn.Identity()
"""

FAKES = {
    # entry-point name: (distribution, version, module source)
    "good": ("good-plugin", "1.0.0", HEADER + """
@hookimpl
def blockforge_register_components(registry):
    registry.register("norm", "goodnorm", params=P, factory=factory)
"""),
    "importfails": ("importfails-plugin", "2.0.1", "import blockforge_no_such_dependency\n"),
    "exits": ("exits-plugin", "0.3", "raise SystemExit('bye')\n"),
    "raises": ("raises-plugin", "1.2.3", HEADER + """
@hookimpl
def blockforge_register_components(registry):
    registry.register("norm", "half_registered", params=P, factory=factory)
    raise RuntimeError("boom")
"""),
    "steals": ("steals-plugin", "0.9", HEADER + """
@hookimpl
def blockforge_register_components(registry):
    registry.register("norm", "steals_ok", params=P, factory=factory)
    registry.register("activation", "relu", params=P, factory=factory)
"""),
    "badexample": ("badexample-plugin", "4.0", HEADER + """
class Q(Params):
    '''Needs heads.'''
    model_config = ConfigDict(json_schema_extra={"examples": [{"heads": "many"}]})
    heads: int

@hookimpl
def blockforge_register_components(registry):
    registry.register("attention", "badex", params=Q, factory=factory)
"""),
    "badfactory": ("badfactory-plugin", "4.1", HEADER + """
def three(params, ctx, extra):
    pass

@hookimpl
def blockforge_register_components(registry):
    registry.register("norm", "badfac", params=P, factory=three)
"""),
    "misspelt": ("misspelt-plugin", "0.1", HEADER + """
@hookimpl
def blockforge_register_component(registry):
    registry.register("norm", "never", params=P, factory=factory)
"""),
    "nohooks": ("nohooks-plugin", "0.2", "def blockforge_register_components(registry):\n    pass\n"),
}


@pytest.fixture(scope="module")
def fake_site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("fake-site")
    for ep, (dist, version, source) in FAKES.items():
        module = f"bf_fake_{ep}"
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[blockforge]\n{ep} = {module}\n")
    return site


@pytest.fixture
def with_fakes(fake_site, monkeypatch):
    monkeypatch.syspath_prepend(str(fake_site))
    for var in (plugins_mod.ENV_DISABLE, plugins_mod.ENV_STRICT):
        monkeypatch.delenv(var, raising=False)
    yield fake_site
    plugins_mod.forget_default_plugins()  # forget the sets loaded with the fakes


def test_every_failure_is_reported_with_name_version_and_stage(with_fakes):
    ps = load_plugins()
    info = {p.name: p for p in ps.plugins}
    assert info["good"].status == "loaded" and info["good"].components == ["norm.goodnorm"]
    assert info["good"].label == "good (good-plugin 1.0.0)"
    expected = {
        "importfails": ("import", "ModuleNotFoundError: No module named 'blockforge_no_such_dependency'"),
        "exits": ("import", "SystemExit: bye"),
        "raises": ("hook", "RuntimeError: boom"),
        "steals": ("hook", "registered by both 'builtins' and 'steals'"),
        "badexample": ("check", "attention.badex: example 0 {'heads': 'many'} does not validate"),
        "badfactory": ("hook", "must accept (params, ctx)"),
        "misspelt": ("register", "blockforge_register_component"),
        "nohooks": ("register", "implements no blockforge_* hook"),
    }
    for name, (stage, message) in expected.items():
        p = info[name]
        assert (p.status, p.stage) == ("failed", stage), (name, p)
        assert message in p.error, (name, p.error)
        assert (p.distribution, p.version) == FAKES[name][:2]
        assert p.components == []
    # nothing of a failed plugin stays registered; everything else works
    regs = ps.registries
    assert "goodnorm" in regs["norm"]
    for gone in ("half_registered", "steals_ok", "badfac", "never"):
        assert gone not in regs["norm"]
    assert "badex" not in regs["attention"]
    assert regs["activation"].get("relu").owner == "builtins"
    assert info["builtins"].status == "loaded"


@pytest.mark.parametrize("name", ["importfails", "raises", "steals", "badexample", "misspelt"])
def test_strict_mode_names_the_plugin_and_its_version(with_fakes, name):
    others = [n for n in FAKES if n not in (name, "good")]
    with pytest.raises(PluginError) as exc:
        load_plugins(strict=True, disable=others)
    dist, version, _ = FAKES[name]
    assert f"plugin {name} ({dist} {version}) failed at" in str(exc.value)


def test_strict_mode_from_the_environment(with_fakes, monkeypatch):
    monkeypatch.setenv(plugins_mod.ENV_STRICT, "1")
    with pytest.raises(PluginError, match=r"badexample \(badexample-plugin 4.0\)"):
        load_plugins()


def test_disable_by_entry_point_or_distribution_name(with_fakes, monkeypatch):
    ps = load_plugins(disable=["IMPORTFAILS", "raises_plugin"], strict=False)
    info = {p.name: p for p in ps.plugins}
    assert info["importfails"].status == info["raises"].status == "disabled"
    assert "disabled by name" in info["raises"].error
    monkeypatch.setenv(plugins_mod.ENV_DISABLE, "all")
    ps = load_plugins()
    assert [p.name for p in ps.plugins] == ["builtins"]  # "all" scans nothing (issue 18 item 9)
    assert "goodnorm" not in ps.registries["norm"]


def test_disabling_an_unknown_plugin_or_the_builtins_is_reported(with_fakes):
    ps = load_plugins(disable=["goood", "Raises", "builtins", "all-but-not-all"], strict=False)
    assert ps.get("raises").status == "disabled"
    assert ps.unmatched_disables == ["all-but-not-all", "builtins", "goood"]
    assert ps.get("builtins").status == "loaded" and "relu" in ps.registries["activation"]
    assert load_plugins(disable=["all"], strict=False).unmatched_disables == []


runner = CliRunner()


def test_cli_warns_once_and_keeps_working(with_fakes, caplog):
    plugins_mod.forget_default_plugins()  # the fakes were installed after a set may have been loaded
    with caplog.at_level(logging.WARNING, logger="blockforge.plugins"):
        r = runner.invoke(app, ["validate", str(SPECS_DIR / "tiny.yaml")], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    warned = [rec.getMessage() for rec in caplog.records]
    assert any("plugin raises (raises-plugin 1.2.3) failed at hook and was skipped: RuntimeError: boom" in w
               for w in warned)
    assert len(warned) == len(FAKES) - 1  # every failure once, not the good plugin
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="blockforge.plugins"):
        r = runner.invoke(app, ["--disable-plugin", "all-but", "validate", str(SPECS_DIR / "tiny.yaml")])
    assert r.exit_code == 0, r.output
    (typo,) = [rec.getMessage() for rec in caplog.records if "failed at" not in rec.getMessage()]
    assert "no plugin named 'all-but' to disable" in typo and "good" in typo  # says what is installed


def test_cli_plugins_lists_failures_and_strict_flag_exits_1(with_fakes):
    r = runner.invoke(app, ["plugins", "--format", "json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    rows = {p["name"]: p for p in json.loads(r.output)["plugins"]}
    assert rows["raises"]["status"] == "failed" and rows["raises"]["version"] == "1.2.3"
    assert rows["good"]["components"] == ["norm.goodnorm"]
    r = runner.invoke(app, ["--strict-plugins", "validate", str(SPECS_DIR / "tiny.yaml")], catch_exceptions=False)
    assert r.exit_code == 1
    assert "error: plugin" in r.output and "failed at" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["--strict-plugins", "--disable-plugin", "all", "validate", str(SPECS_DIR / "tiny.yaml")],
                      catch_exceptions=False)
    assert r.exit_code == 0, r.output


def test_cli_invocations_in_one_process_do_not_share_plugin_options(with_fakes):
    """Each invocation's global options live in its own CliContext: --no-plugins in one run does not
    leak into the next, in either order."""
    plugins_mod.forget_default_plugins()

    def norms(*options: str) -> set[str]:
        r = runner.invoke(app, [*options, "components", "norm", "-f", "json"], catch_exceptions=False)
        assert r.exit_code == 0, r.output
        return {c["name"] for c in json.loads(r.stdout)["norm"]}

    assert "goodnorm" not in norms("--no-plugins")
    assert "goodnorm" in norms()
    assert "goodnorm" not in norms("--disable-plugin", "good")
    assert "goodnorm" in norms()
    assert "goodnorm" not in norms("--no-plugins")
