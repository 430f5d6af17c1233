"""The example plugin packages in plugins/, installed with pip: listed, built, light, and missed clearly."""

from __future__ import annotations

import json
import re
import sys
from importlib import metadata
from importlib.util import find_spec
from xml.etree import ElementTree

import pytest

from tests.conftest import ALL_SPEC_FILES, SPEC_FILES, SPECS_DIR, required_plugins
from tests.plugins.conftest import CLI, EXAMPLES, PLUGINS_DIR, run

SPEC = SPECS_DIR / "linformer-encoder.yaml"
PLUGIN_SPECS = [p for p in ALL_SPEC_FILES if required_plugins(p)]


def test_plugins_are_not_installed_in_the_suite_venv():
    # the "not installed" tests below rely on it; install them with --target, never into the venv
    installed = {ep.name for ep in metadata.entry_points(group="blockforge")}
    assert not installed & set(EXAMPLES), "uninstall the example plugins from this venv to run the suite"
    assert find_spec("blockforge_linformer") is None


def test_every_spec_is_built_here_or_with_the_example_plugins():
    assert SPEC in PLUGIN_SPECS and required_plugins(SPEC) == {"linformer", "dyt"}
    for path in ALL_SPEC_FILES:
        assert path in SPEC_FILES or required_plugins(path) <= set(EXAMPLES), path


def test_listed_with_name_version_and_components(plugin_site):
    r = run([CLI, "plugins", "--format", "json"], plugin_site)
    assert r.returncode == 0, r.stderr
    plugins = {p["name"]: p for p in json.loads(r.stdout)["plugins"]}
    assert plugins["builtins"]["status"] == "loaded"
    assert plugins["linformer"] == {
        "name": "linformer", "distribution": "blockforge-linformer", "version": "0.1.0", "status": "loaded",
        "stage": None, "error": None, "components": ["attention.linformer"],
    }
    assert plugins["dyt"]["components"] == ["norm.dyt"] and plugins["dyt"]["version"] == "0.1.0"
    text = run([CLI, "plugins"], plugin_site).stdout
    assert re.search(r"linformer\s.*blockforge-linformer\s.*0\.1\.0\s.*loaded\s.*attention\.linformer", text)


def test_components_show_their_owner(plugin_site):
    r = run([CLI, "components", "--format", "json"], plugin_site)
    data = json.loads(r.stdout)
    owners = {(k, c["name"]): c["owner"] for k, comps in data.items() for c in comps}
    assert owners[("attention", "linformer")] == "linformer"
    assert owners[("norm", "dyt")] == "dyt"
    assert owners[("attention", "mha")] == "builtins"
    lin = next(c for c in data["attention"] if c["name"] == "linformer")
    assert {p["name"] for p in lin["params"]} >= {"heads", "seq_len", "k", "share_kv"}
    assert re.search(r"linformer\s+│\s+linformer", run([CLI, "components", "attention"], plugin_site).stdout)
    only = json.loads(run([CLI, "components", "--plugin", "dyt", "--format", "json"], plugin_site).stdout)
    assert {k: [c["name"] for c in v] for k, v in only.items() if v} == {"norm": ["dyt"]}


@pytest.fixture(scope="module")
def installed_run(plugin_site, tmp_path_factory) -> dict[str, list[str]]:
    """One pytest subprocess with the plugins installed: the spec-folder test and the registry-driven
    tests (selected for the plugins' specs and components) and each plugin's own tests.

    Returns:
        ``{node id: outcomes}`` from the JUnit report, outcomes being ``failure``/``error``/``skipped``
        elements (an empty list means passed).
    """
    report = tmp_path_factory.mktemp("installed-run") / "report.xml"
    r = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
             "tests/test_specs.py", "tests/test_registry_driven.py",
             *(f"plugins/{folder}/tests" for folder in EXAMPLES.values()),
             "-k", " or ".join(["linformer", "dyt", *(p.stem for p in PLUGIN_SPECS)])], plugin_site)
    assert report.exists(), r.stdout + r.stderr
    cases = {}
    for case in ElementTree.parse(report).iter("testcase"):
        cases[f"{case.get('classname')}::{case.get('name')}"] = [child.tag for child in case
                                                                  if child.tag in ("failure", "error", "skipped")]
    assert r.returncode == 0, r.stdout[-3000:]
    return cases


def _passed(cases: dict[str, list[str]], pattern: str) -> list[str]:
    hits = [k for k in cases if re.search(pattern, k)]
    assert all(cases[k] == [] for k in hits), {k: cases[k] for k in hits}
    return hits


@pytest.mark.slow
def test_the_plugin_spec_builds_and_runs_in_the_spec_folder_test(installed_run):
    # tests/test_specs.py itself, in an environment where the plugins are installed
    for spec in PLUGIN_SPECS:
        assert _passed(installed_run, rf"test_specs::test_spec_validates_builds_and_runs\[{re.escape(spec.name)}\]")


@pytest.mark.slow
def test_registry_driven_tests_cover_the_plugin_components(installed_run):
    # linformer declares 2 examples, dyt has all defaults (1): each built and run, and built on meta;
    # linformer, a mixer, is also run with positions= from RoPE and ALiBi and checked against its declaration
    assert len(_passed(installed_run, r"test_registry_driven::.*attention\.linformer\[")) == 6
    assert len(_passed(installed_run, r"test_registry_driven::test_mixers_and_blocks_take_positions.*linformer")) == 2
    assert len(_passed(installed_run, r"test_registry_driven::.*norm\.dyt\[")) == 2


@pytest.mark.slow
@pytest.mark.parametrize(("module", "at_least"), [("test_linformer", 14), ("test_dyt", 4)])
def test_each_plugin_passes_its_own_tests(installed_run, module, at_least):
    assert len(_passed(installed_run, rf"(^|\.){module}::")) >= at_least


def _assert_clear_missing_error(r):
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert "unknown attention component 'linformer'" in r.stderr
    assert "unknown norm component 'dyt'" in r.stderr
    assert f"{SPEC}:" in r.stderr  # file:line:col
    assert "no installed plugin provides it" in r.stderr and "blockforge plugins" in r.stderr


def test_without_the_plugins_the_spec_fails_clearly():
    r = run([CLI, "validate", str(SPEC)], None)
    _assert_clear_missing_error(r)
    assert "registered attention components: cross_mha, gru, lstm, mha" in r.stderr


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--no-plugins"], {}),
        (["--disable-plugin", "linformer", "--disable-plugin", "blockforge-dyt"], {}),
        ([], {"BLOCKFORGE_DISABLE_PLUGINS": "all"}),
        ([], {"BLOCKFORGE_DISABLE_PLUGINS": "dyt, linformer"}),
    ],
    ids=["flag-all", "flag-by-name", "env-all", "env-by-name"],
)
def test_disabled_plugins_are_not_loaded(plugin_site, args, env):
    r = run([CLI, *args, "validate", str(SPEC)], plugin_site, **env)
    _assert_clear_missing_error(r)
    listing = json.loads(run([CLI, *args, "plugins", "--format", "json"], plugin_site, **env).stdout)
    status = {p["name"]: (p["status"], p["error"]) for p in listing["plugins"]}
    if "--no-plugins" in args or "all" in env.values():  # all disabled: nothing is scanned (issue 18 item 9)
        assert list(status) == ["builtins"]
    else:
        assert status["linformer"][0] == status["dyt"][0] == "disabled"
    assert status["builtins"] == ("loaded", None)


def test_validate_ok_with_the_plugins(plugin_site):
    r = run([CLI, "validate", str(SPEC)], plugin_site)
    assert r.returncode == 0, r.stderr
    assert "ok" in r.stdout and "linformer-encoder" in r.stdout


def test_contracts_of_plugin_params_are_checked(plugin_site, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(SPEC.read_text().replace("seq_len: 16, k: 4", "seq_len: 8, k: 12"))
    r = run([CLI, "validate", str(bad)], plugin_site)
    assert r.returncode == 1
    assert "seq_len=8 is shorter than the model's max_len=16" in r.stderr
    assert "k=12 is larger than seq_len=8" in r.stderr


LIGHT = """
import sys
from blockforge.cli import main
for argv in (["components"], ["validate", {spec!r}], ["plugins"]):
    sys.argv = ["blockforge", *argv]
    try:
        main()
    except SystemExit as exc:
        assert not exc.code, (argv, exc.code)
assert "blockforge_linformer.plugin" in sys.modules and "blockforge_dyt.plugin" in sys.modules
heavy = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.") or m.endswith(".module"))
print("HEAVY", heavy)
"""


def test_listing_and_validating_do_not_import_torch_with_plugins_installed(plugin_site):
    r = run([sys.executable, "-c", LIGHT.format(spec=str(SPEC))], plugin_site)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "HEAVY []" in r.stdout, r.stdout[-500:]


def test_a_missing_example_plugin_is_named_with_its_install_command():
    # the examples declare what they provide ([tool.blockforge] provides), read as text: nothing imported
    from blockforge.registry.examples import EXAMPLES_DIR, example_plugin_for

    assert example_plugin_for("attention", "linformer") == EXAMPLES_DIR / "blockforge-linformer"
    assert example_plugin_for("norm", "dyt") == EXAMPLES_DIR / "blockforge-dyt"
    assert example_plugin_for("norm", "linformer") is None
    r = run([CLI, "validate", str(SPEC)], None)
    _assert_clear_missing_error(r)
    assert "the example plugin in " in r.stderr and "blockforge-linformer` installs it" in r.stderr
    assert "`.venv/bin/pip install -e " in r.stderr
