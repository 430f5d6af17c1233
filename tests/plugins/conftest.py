"""The example plugins in plugins/, installed for real: ``pip install --target`` into a private folder.

The suite's venv is shared, so nothing is installed into it. Subprocesses that should see the
plugins get ``PYTHONPATH=<site>`` (entry points are found on ``sys.path``); subprocesses without it
run exactly as if the plugins were not installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PLUGINS_DIR = ROOT / "plugins"
EXAMPLES = {"linformer": "blockforge-linformer", "dyt": "blockforge-dyt"}  # entry point -> folder
CLI = str(Path(sys.executable).with_name("blockforge"))


def pip_install(site: Path, *folders: Path) -> None:
    """Install plugin folders (no dependencies: blockforge is already in this venv) into ``site``."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q", "--no-deps",
         "--no-build-isolation", "--target", str(site), *map(str, folders)],
        check=True, capture_output=True, text=True, timeout=300,
    )


def env_with(site: Path | None, **extra: str) -> dict[str, str]:
    """The environment of a subprocess that sees the plugins in ``site`` (or none if None)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLOCKFORGE_") and k != "PYTHONPATH"}
    if site is not None:
        env["PYTHONPATH"] = str(site)
    env.update(COLUMNS="200", **extra)
    return env


def run(cmd: list[str], site: Path | None, cwd: Path = ROOT, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env_with(site, **extra), capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory) -> Path:
    """A folder with both example plugins installed by pip."""
    site = tmp_path_factory.mktemp("plugin-site")
    pip_install(site, *(PLUGINS_DIR / folder for folder in EXAMPLES.values()))
    return site
