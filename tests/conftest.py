"""Shared fixtures: fresh registries, the spec folder, and the kind calling conventions."""

from __future__ import annotations

import os
import re
from importlib import metadata
from pathlib import Path

import pytest

# One console width for every test and every CLI subprocess it starts: rich otherwise takes the width of
# whatever terminal runs pytest, and wrapped output would differ between a developer's shell and CI.
os.environ["COLUMNS"] = "100"

from blockforge.registry import Registries, load_plugins

ROOT = Path(__file__).resolve().parents[1]
SPECS_DIR = ROOT / "specs"
ALL_SPEC_FILES = sorted(p for p in SPECS_DIR.glob("*") if p.suffix in (".yaml", ".yml", ".json"))


def required_plugins(path: Path) -> set[str]:
    """Plugins a spec needs, from a ``# requires-plugins: a, b`` comment (example plugins in plugins/)."""
    found = re.search(r"^#\s*requires-plugins:(.*)$", path.read_text(), flags=re.MULTILINE)
    return {n.strip() for n in found.group(1).split(",") if n.strip()} if found else set()


INSTALLED_PLUGINS = {ep.name for ep in metadata.entry_points(group="blockforge")}
# Specs whose plugins are not installed here are built by tests/plugins/ in an environment that has them.
SPEC_FILES = [p for p in ALL_SPEC_FILES if required_plugins(p) <= INSTALLED_PLUGINS]


@pytest.fixture
def registries() -> Registries:
    """A fresh registry set with the built-ins only (no installed plugins)."""
    return load_plugins(entry_points=False, strict=True).registries


def builtin_registries() -> Registries:
    return load_plugins(entry_points=False, strict=True).registries


@pytest.fixture
def no_hang():
    """Fail a test that runs for more than a minute (a hang), without timing anything finer.

    Hostile-input tests use it: refusal is proven by the error code and memory bounds; wall-clock
    speed is measured in benchmarks/, not asserted in unit tests.
    """
    import signal

    def _alarm(signum, frame):
        raise TimeoutError("hostile-input test hung for 60 s")

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(60)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
