"""Shared fixtures: fresh registries, the spec folder, and the kind calling conventions."""

from __future__ import annotations

from pathlib import Path

import pytest

from blockforge.registry import Registries, load_plugins

ROOT = Path(__file__).resolve().parents[1]
SPECS_DIR = ROOT / "specs"
SPEC_FILES = sorted(p for p in SPECS_DIR.glob("*") if p.suffix in (".yaml", ".yml", ".json"))


@pytest.fixture
def registries() -> Registries:
    """A fresh registry set with the built-ins only (no installed plugins)."""
    return load_plugins(entry_points=False, strict=True).registries


def builtin_registries() -> Registries:
    return load_plugins(entry_points=False, strict=True).registries
