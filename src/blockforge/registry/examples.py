"""The example plugins shipped in a source checkout's ``plugins/`` folder, for error hints only.

A spec that names a component of an example plugin that is not installed (``linformer`` of
``specs/linformer-encoder.yaml``) gets a hint naming the folder and the install command. Nothing is
imported or registered from here: each example declares what it provides in its ``pyproject.toml``
(``[tool.blockforge] provides = ["attention.linformer"]``), which is read as text. Torch-free.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

#: ``plugins/`` of the source checkout this package runs from (absent in an installed wheel).
EXAMPLES_DIR = Path(__file__).resolve().parents[3] / "plugins"


@lru_cache(maxsize=4)
def _provided(folder: Path) -> dict[tuple[str, str], Path]:
    found: dict[tuple[str, str], Path] = {}
    if not folder.is_dir():
        return found
    for pyproject in sorted(folder.glob("*/pyproject.toml")):
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            continue
        for entry in data.get("tool", {}).get("blockforge", {}).get("provides", []):
            kind, _, name = str(entry).partition(".")
            found.setdefault((kind, name), pyproject.parent)
    return found


def example_plugin_for(kind: str, name: str, *, folder: Path = EXAMPLES_DIR) -> Path | None:
    """The example plugin folder that provides component ``name`` of ``kind``, or None.

    Args:
        kind: the registry kind (``"attention"``).
        name: the component name (``"linformer"``).
        folder: where the examples are (default: ``plugins/`` of this source checkout).

    Returns:
        The plugin's folder (``.../plugins/blockforge-linformer``), or None when no example provides it
        (or there is no ``plugins/`` folder, as in an installed wheel).
    """
    return _provided(folder).get((kind, name))


def install_hint(path: Path) -> str:
    """``install it with `.venv/bin/pip install -e plugins/x``` with the path relative to the working
    directory when it is below it."""
    try:
        shown = path.relative_to(Path.cwd())
    except ValueError:
        shown = path
    return f"the example plugin in {shown} provides it: `.venv/bin/pip install -e {shown}` installs it"


__all__ = ["EXAMPLES_DIR", "example_plugin_for", "install_hint"]
