"""``blockforge new-plugin NAME``: scaffold a working, installable, tested plugin package.

The package follows the layout of ``docs/plugins.md``: a torch-free ``plugin.py`` (entry point,
parameter model, factory, hook), a ``module.py`` with the ``nn.Module``, and tests that check the
module against a reference and the component through blockforge. ``--kind`` picks the kind; each
starts as a small working component of it (:mod:`blockforge.cli.plugin_kinds`): change its
parameters and module to what you need.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Optional

import typer

from blockforge.cli._app import EXIT_INVALID, err, out

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")

PYPROJECT = '''\
[build-system]
requires = ["hatchling>=1.21"]
build-backend = "hatchling.build"

[project]
name = "{dist}"
version = "0.1.0"
description = "The {name} component for blockforge."
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["blockforge>=0.1"]

# <plugin name> = "<module with the @hookimpl functions>": how blockforge finds this plugin.
[project.entry-points.blockforge]
{name} = "{pkg}.plugin"

[tool.hatch.build.targets.wheel]
packages = ["src/{pkg}"]

[tool.pytest.ini_options]
testpaths = ["tests"]
'''

README = '''\
# {dist}

A blockforge plugin that adds the `{name}` {kind} component ({summary}).

```bash
pip install -e .          # then: blockforge plugins; blockforge components {name}
pytest                    # with the package installed
```

Use it in a spec: `{use}`.

Layout (keep it: `blockforge validate` and `blockforge components` must not import torch):
`src/{pkg}/plugin.py` holds the parameter model, the factory and the hook and imports no torch;
`src/{pkg}/module.py` holds the `nn.Module` and is imported by the factory when a model is built.
'''

INIT = '''\
"""{dist}: the {name} component for blockforge. Torch-free at import."""

__version__ = "0.1.0"
'''

PLUGIN = '''\
"""The plugin module named by the entry point: parameter model, factory, hook. No torch import here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from blockforge import BuildContext, Params, hookimpl

if TYPE_CHECKING:
    from torch import nn


class {cls}Params(Params):
    """{summary}."""

{params}


def build_{name}(p: {cls}Params, ctx: BuildContext) -> nn.Module:
    """Build the module when a model is built (torch is imported here, never at the top of this file).

    Args:
        p: the validated parameters.
        ctx: the build context: ``d_model``, ``vocab_size``, ``max_len``, ``n_layers``, ``layer``;
            ``ctx.child(ref)`` builds a nested component reference.

    Returns:
        The ``nn.Module``, called as its kind is called (docs/plugins.md, "How each kind is called").

    Raises:
        ValueError: for values the parameter model cannot rule out (reported as a build error).
    """
    from {pkg}.module import {cls}

    return {build}


@hookimpl
def blockforge_register_components(registry):
    # A {kind} component is called as {call} (docs/plugins.md, "How each kind is called").
    registry.register("{kind}", "{name}", params={cls}Params, factory=build_{name})
'''

MODULE = '''\
"""The {name} module. Imports torch; loaded only when a model is built."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class {cls}(nn.Module):
{module}
'''

TEST = '''\
"""{name}: the module against its formula, and the component through blockforge (run installed)."""

from __future__ import annotations

import math

import torch

from blockforge.build import build_component
from blockforge.registry import load_plugins
from {pkg}.module import {cls}


def test_matches_the_formula():
{formula_test}


def test_loaded_through_the_entry_point_and_built():
    ps = load_plugins(strict=True)
    assert ps.get("{name}").status == "loaded"
{built_test}
'''


def render(name: str, kind: str = "norm") -> dict[str, str]:
    """The files of a new plugin package for component ``name`` of ``kind``, by relative path.

    Raises:
        KeyError: no template for ``kind`` (see :data:`blockforge.cli.plugin_kinds.TEMPLATES`).
    """
    from dataclasses import asdict

    from blockforge.cli.plugin_kinds import TEMPLATES

    pkg = f"blockforge_{name}"
    fields = {
        "name": name,
        "pkg": pkg,
        "dist": f"blockforge-{name.replace('_', '-')}",
        "cls": "".join(part.capitalize() for part in name.split("_")),
        "kind": kind,
    }
    fields.update({k: v.format(**fields) for k, v in asdict(TEMPLATES[kind]).items()})
    return {
        "pyproject.toml": PYPROJECT.format(**fields),
        "README.md": README.format(**fields),
        f"src/{pkg}/__init__.py": INIT.format(**fields),
        f"src/{pkg}/plugin.py": PLUGIN.format(**fields),
        f"src/{pkg}/module.py": MODULE.format(**fields),
        f"tests/test_{name}.py": TEST.format(**fields),
    }


def new_plugin(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Component name, as specs will write it (e.g. scalenorm).")],
    directory: Annotated[
        Optional[Path],  # noqa: UP007
        typer.Option("--dir", "-d", help="Where to create the package (default: ./blockforge-NAME).", file_okay=False),
    ] = None,
    kind: Annotated[str, typer.Option("--kind", "-k", help="The component's kind: norm, activation, feedforward, "
                                      "positional, embedding or head (each starts as a small working example).")
                    ] = "norm",
) -> None:
    """Scaffold a plugin package (pyproject with entry point, torch-free plugin module, nn.Module, tests)."""
    from blockforge.cli.plugin_kinds import TEMPLATES

    if kind not in TEMPLATES:
        other = ("a sequence mixer: copy plugins/blockforge-linformer" if kind == "attention"
                 else "it composes other components: start from the built-ins' blockforge/builtins"
                 if kind in ("block", "model") else f"kinds are {', '.join(TEMPLATES)}")
        err.print(f"[bold red]error[/]: no scaffold for kind {kind!r} ({other}); --kind takes "
                  f"{', '.join(TEMPLATES)}")
        raise typer.Exit(EXIT_INVALID)
    if not NAME_RE.match(name):
        err.print(f"[bold red]error[/]: invalid plugin name {name!r}: use lowercase letters, digits and '_', "
                  "starting with a letter (it is also the component's name in specs)")
        raise typer.Exit(EXIT_INVALID)
    from blockforge.cli.context import CliContext

    registered = CliContext.of(ctx).registries[kind]
    if name in registered.names():
        owner = registered.get(name).owner
        err.print(f"[bold red]error[/]: {kind} component {name!r} is already registered (by {owner}); a second "
                  "one would be refused when both are installed: choose another name")
        raise typer.Exit(EXIT_INVALID)
    target = directory or Path(f"blockforge-{name.replace('_', '-')}")
    if target.exists():
        err.print(f"[bold red]error[/]: {target} already exists; choose another --dir")
        raise typer.Exit(EXIT_INVALID)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:  # write everything aside, then move it into place in one step: never half a package
        for rel, text in render(name, kind).items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    out.print(f"created plugin package [bold]{target}[/] (component {kind}.{name}); next, on one line:")
    out.print(f"pip install -e {target} && blockforge plugins && pytest {target}", markup=False, highlight=False,
              soft_wrap=True)  # never broken: it is meant to be copied
