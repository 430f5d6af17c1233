"""Faulty plugins stay contained (issue 18 items 9-13, issue 12 items 13-15).

Fake distributions (``*.dist-info`` + module on a temporary ``sys.path`` entry), as in test_plugins.py.
Every plugin failure is listed with its file:line and skipped; nothing it did survives it; the CLI names the
plugin whose code an error passed through and exits 1, never 0 or 3.
"""

from __future__ import annotations

import signal
import sys
import textwrap
from pathlib import Path

import pytest

from blockforge.registry import load_plugins
from blockforge.registry import plugins as plugins_mod
from tests.conftest import SPECS_DIR

HEADER = """
from blockforge import Params, hookimpl

class P(Params):
    '''A test component.'''

def factory(p, ctx):
    from torch import nn
    return nn.Identity()
"""

FAKES = {
    "sysexit": HEADER + """
def exits(p, ctx):
    raise SystemExit(0)

@hookimpl
def blockforge_register_components(registry):
    registry.register("norm", "exitnorm", params=P, factory=exits)
""",
    "basexc": HEADER + """
class Boom(BaseException):
    pass

@hookimpl
def blockforge_register_components(registry):
    raise Boom("not an Exception")
""",
    "kbint": "raise KeyboardInterrupt\n",
    "remover": HEADER + """
@hookimpl
def blockforge_register_components(registry):
    registry._registries["norm"].remove("rmsnorm")
    raise RuntimeError("after removing a built-in")
""",
    "limits": HEADER + """
import blockforge.spec.loader as loader

@hookimpl
def blockforge_register_components(registry):
    loader.MAX_NODES = 10**12
    raise RuntimeError("after raising the limits")
""",
    "quietlimits": HEADER + """
import blockforge.spec.loader as loader

@hookimpl
def blockforge_register_components(registry):
    registry.register("norm", "qnorm", params=P, factory=factory)
    loader.MAX_DEPTH = 10**6
""",
    "forger": HEADER + """
@hookimpl
def blockforge_register_components(registry):
    registry._registries["norm"].remove("rmsnorm")
    registry._registries.register("norm", "rmsnorm", params=P, factory=factory, owner="builtins")
""",
    "keyerr": "d = {}\nd['b']\n",
    "registy": HEADER + """
@hookimpl
def blockforge_register_components(registy):
    pass
""",
    "badcheck": HEADER + """
class C(Params):
    '''Its check fails with a KeyError.'''

    def check(self, ctx):
        raise KeyError("oops")

@hookimpl
def blockforge_register_components(registry):
    registry.register("norm", "checknorm", params=C, factory=factory)
""",
    "badshape": HEADER + """
from typing import ClassVar

class M(Params):
    '''A mixer that drops a channel.'''
    uses_positions: ClassVar[str] = "ignores"

def mixer(p, ctx):
    from torch import nn

    class Drop(nn.Module):
        def forward(self, x, *, mask=None, positions=None):
            return x[..., :-1]

    return Drop()

@hookimpl
def blockforge_register_components(registry):
    registry.register("attention", "badmix", params=M, factory=mixer)
""",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("hostile-site")
    for ep, source in FAKES.items():
        module = f"bf_hostile_{ep}"
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        info = site / f"{ep}_plugin-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {ep}-plugin\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[blockforge]\n{ep} = {module}\n")
    bad = site / "badmeta-1.0.dist-info"  # METADATA that is not UTF-8
    bad.mkdir()
    (bad / "METADATA").write_bytes(b"Metadata-Version: 2.1\nName: badmeta\nVersion: 1.0\nSummary: caf\xe9\xff\n")
    (bad / "entry_points.txt").write_text("[blockforge]\nbadmeta = bf_hostile_keyerr\n")
    bad = site / "badeps-1.0.dist-info"  # an entry_points.txt importlib.metadata cannot parse
    bad.mkdir()
    (bad / "METADATA").write_text("Metadata-Version: 2.1\nName: badeps\nVersion: 1.0\n")
    (bad / "entry_points.txt").write_text("[blockforge]\nno equals sign\n")
    return site


@pytest.fixture
def fakes(site, monkeypatch):
    pytest.importorskip("torch")  # torch scans every distribution at import: import it before the broken ones
    monkeypatch.syspath_prepend(str(site))
    for var in (plugins_mod.ENV_DISABLE, plugins_mod.ENV_STRICT, plugins_mod.ENV_DEBUG):
        monkeypatch.delenv(var, raising=False)
    # a CLI run's SIGINT watch, as main() installs it, undone afterwards
    monkeypatch.setattr(plugins_mod, "_SIGINT", {"watching": True, "seen": False})
    plugins_mod.forget_default_plugins()
    yield site
    plugins_mod.forget_default_plugins()
    for name in FAKES:
        sys.modules.pop(f"bf_hostile_{name}", None)


@pytest.fixture(scope="module")
def loaded(site):
    """One load of every fake (module-scoped: loading is the slow part)."""
    sys.path.insert(0, str(site))
    saved = plugins_mod._SIGINT
    plugins_mod._SIGINT = {"watching": True, "seen": False}
    try:
        import blockforge.spec.loader as loader

        limits = (loader.MAX_NODES, loader.MAX_DEPTH)
        ps = load_plugins(strict=False)
        assert (loader.MAX_NODES, loader.MAX_DEPTH) == limits  # item 11: the limits are as before
        return ps
    finally:
        plugins_mod._SIGINT = saved
        sys.path.remove(str(site))


def test_every_escape_is_listed_as_a_failure_and_undone(loaded):
    info = {p.name: p for p in loaded.plugins}
    expected = {
        "basexc": ("hook", "Boom: not an Exception"),
        "kbint": ("import", "KeyboardInterrupt"),
        "remover": ("hook", "RuntimeError: after removing a built-in"),
        "limits": ("hook", "RuntimeError: after raising the limits"),
        "quietlimits": ("hook", "changed blockforge's limit blockforge.spec.loader.MAX_DEPTH"),
        "forger": ("hook", "replaced norm.rmsnorm (owned by 'builtins'), claiming the owner 'builtins'"),
        "keyerr": ("import", "KeyError: 'b'"),
        "registy": ("register", "{'registy'}"),
    }
    for name, (stage, message) in expected.items():
        p = info[name]
        assert (p.status, p.stage) == ("failed", stage), (name, p)
        assert message in p.error, (name, p.error)
    # issue 12 item 13: the failing line of the plugin's own file
    assert info["keyerr"].error.endswith("bf_hostile_keyerr.py:2)") and "d['b']" in info["keyerr"].traceback
    line = textwrap.dedent(FAKES["basexc"]).splitlines().index('    raise Boom("not an Exception")') + 1
    assert info["basexc"].where.endswith(f"bf_hostile_basexc.py:{line}")
    # item 11: built-ins exactly as before each plugin; nothing of a failed plugin stays
    builtin = load_plugins(entry_points=False).registries
    assert loaded.registries.snapshot()["norm"]["rmsnorm"] is not None
    assert loaded.registries["norm"].get("rmsnorm").owner == "builtins"
    assert loaded.registries["norm"].get("rmsnorm").params is builtin["norm"].get("rmsnorm").params
    assert "qnorm" not in loaded.registries["norm"]
    # item 9: unreadable distributions are listed and skipped, the rest loaded
    assert info["badmeta-1.0.dist-info"].stage == "discover" and "UnicodeDecodeError" in info["badmeta-1.0.dist-info"].error
    assert info["badeps-1.0.dist-info"].stage == "discover"
    assert [info[n].status for n in ("sysexit", "badcheck", "badshape")] == ["loaded"] * 3, info


def test_a_malformed_distribution_breaks_no_command(site, tmp_path):
    import subprocess

    env = {**__import__("os").environ, "PYTHONPATH": str(site)}
    env.pop("TORCH_DEVICE_BACKEND_AUTOLOAD", None)
    cli = Path(sys.executable).with_name("blockforge")
    r = subprocess.run([str(cli), "--no-plugins", "build", TINY, "-o", str(tmp_path / "m")], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "badeps-1.0.dist-info" in r.stderr and "cannot be read" in r.stderr


def test_no_plugins_scans_nothing(monkeypatch):
    def boom():
        raise AssertionError("scanned")

    monkeypatch.setattr(plugins_mod.metadata, "distributions", boom)
    ps = load_plugins(disable=["all"])
    assert [p.name for p in ps.plugins] == ["builtins"]


def test_a_hanging_import_is_named(monkeypatch, tmp_path, capfd):
    (tmp_path / "bf_hostile_slow.py").write_text("import time\ntime.sleep(0.6)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(plugins_mod, "SLOW_IMPORT_S", 0.1)
    import importlib

    ps = load_plugins(entry_points=False, extra=[], strict=False)  # builtins only: no warning
    assert "still importing" not in capfd.readouterr().err
    info = plugins_mod.PluginInfo("slow", "slow-plugin", "1.0")
    plugins_mod._load_one(plugins_mod.make_plugin_manager(), ps.registries, info,
                          lambda: importlib.import_module("bf_hostile_slow"), strict=False, checked=True)
    err = capfd.readouterr().err
    assert "plugin slow (slow-plugin 1.0) is still importing after 0.1 s" in err and "--disable-plugin slow" in err
    sys.modules.pop("bf_hostile_slow", None)


def _cli(argv: list[str], capsys) -> tuple[int, str]:
    from blockforge.cli import main

    saved = signal.getsignal(signal.SIGINT)
    old_argv = sys.argv
    sys.argv = ["blockforge", *argv]
    try:
        with pytest.raises(SystemExit) as exit_info:
            main()
    finally:
        sys.argv = old_argv
        signal.signal(signal.SIGINT, saved)
    code = exit_info.value.code
    return (0 if code is None else code), capsys.readouterr().err


TINY = str(SPECS_DIR / "tiny.yaml")


def test_cli_names_the_plugin_for_systemexit_in_a_factory(fakes, capsys):
    code, err = _cli(["summary", TINY, "--set", "model.block.norm=exitnorm", "--seq-len", "4"], capsys)
    assert code == 1, err
    assert "norm component 'exitnorm' (from sysexit) failed: SystemExit: 0" in err


def test_cli_names_the_plugin_whose_check_raised(fakes, capsys):
    code, err = _cli(["validate", TINY, "--set", "model.block.norm=checknorm"], capsys)
    assert code == 1, err
    assert "plugin badcheck (badcheck-plugin 1.0) failed in its own code at" in err
    assert "bf_hostile_badcheck.py:" in err and "KeyError: 'oops'" in err and "--disable-plugin badcheck" in err


def test_wrong_output_shape_names_layer_component_plugin_and_shapes(fakes, capsys):
    torch = pytest.importorskip("torch")
    from blockforge.build import OutputContractError, build_model

    model = build_model(TINY, registries=load_plugins(strict=False).registries, device="meta",
                        overrides=["model.block.attention=badmix"])
    with pytest.raises(OutputContractError) as info:
        model(torch.zeros(2, 5, dtype=torch.long, device="meta"))
    msg = str(info.value)
    assert "layer 0, attention component 'badmix' (from plugin 'badshape')" in msg
    assert "shape (2, 5, 31)" in msg and "(2, 5, 32)" in msg
    code, err = _cli(["summary", TINY, "--set", "model.block.attention=badmix", "--seq-len", "4"], capsys)
    assert code == 1 and "attention component 'badmix' (from plugin 'badshape') returned shape" in err, err
