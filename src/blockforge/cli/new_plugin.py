"""``blockforge new-plugin NAME``: scaffold a working, installable, tested plugin package.

The package follows the layout of ``docs/plugins.md``: a torch-free ``plugin.py`` (entry point,
parameter model, factory, hook), a ``module.py`` with the ``nn.Module``, and tests that check the
module against a reference and the component through blockforge. It starts as a norm (ScaleNorm:
``g * x / ||x||``); change the kind, parameters and module to what you need.
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

A blockforge plugin that adds the `{name}` norm (ScaleNorm: `g * x / ||x||`, one learned scalar `g`).

```bash
pip install -e .          # then: blockforge plugins; blockforge components norm
pytest                    # with the package installed
```

Use it in a spec: `norm: {name}` or `norm: {{type: {name}, eps: 1.0e-5}}`.

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
    """ScaleNorm: g * x / ||x|| over the last dimension, with one learned scalar g."""

    eps: Annotated[float, Field(gt=0.0)] = 1e-5
    """Lower bound on the norm, for numerical stability."""


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

    return {cls}(d_model=ctx.d_model, eps=p.eps)


@hookimpl
def blockforge_register_components(registry):
    # A norm is called as m(x). Another kind has another call (docs/plugins.md, "How each kind is
    # called"); a sequence mixer (kind "attention") is called as m(x, mask=mask, positions=positions)
    # and declares on its parameter model what it does with positions (uses_positions, "Positions").
    registry.register("norm", "{name}", params={cls}Params, factory=build_{name})
'''

MODULE = '''\
"""The {name} module. Imports torch; loaded only when a model is built."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class {cls}(nn.Module):
    """ScaleNorm: ``g * x / max(||x||, eps)`` over the last dimension.

    Args:
        d_model: width of the last dimension (``g`` starts at ``sqrt(d_model)``).
        eps: lower bound on the norm.

    Raises:
        ValueError: ``d_model`` or ``eps`` is not positive.
    """

    def __init__(self, *, d_model: int, eps: float = 1e-5) -> None:
        super().__init__()
        if d_model <= 0 or eps <= 0:
            raise ValueError(f"d_model and eps must be positive, got {{d_model}}, {{eps}}")
        self.d_model, self.eps = d_model, eps
        self.g = nn.Parameter(torch.empty(()))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.constant_(self.g, math.sqrt(self.d_model))

    def forward(self, x: Tensor) -> Tensor:
        """Args: x: ``(..., C)``. Returns: ``(..., C)``."""
        return self.g * x / x.norm(dim=-1, keepdim=True).clamp_min(self.eps)  # (..., C)
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
    m = {cls}(d_model=2)
    x = torch.tensor([[3.0, 4.0]])
    torch.testing.assert_close(m(x), torch.tensor([[3.0, 4.0]]) / 5.0 * math.sqrt(2), atol=1e-6, rtol=1e-6)


def test_loaded_through_the_entry_point_and_built():
    ps = load_plugins(strict=True)
    assert ps.get("{name}").status == "loaded"
    m = build_component("norm", {{"type": "{name}"}}, d_model=8, registries=ps.registries)
    y = m(torch.randn(2, 3, 8))
    assert y.shape == (2, 3, 8)
    torch.testing.assert_close(y.norm(dim=-1), torch.full((2, 3), math.sqrt(8)), atol=1e-5, rtol=1e-5)
'''


def render(name: str) -> dict[str, str]:
    """The files of a new plugin package for component ``name``, by relative path."""
    pkg = f"blockforge_{name}"
    fields = {
        "name": name,
        "pkg": pkg,
        "dist": f"blockforge-{name.replace('_', '-')}",
        "cls": "".join(part.capitalize() for part in name.split("_")),
    }
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
) -> None:
    """Scaffold a plugin package (pyproject with entry point, torch-free plugin module, nn.Module, tests)."""
    if not NAME_RE.match(name):
        err.print(f"[bold red]error[/]: invalid plugin name {name!r}: use lowercase letters, digits and '_', "
                  "starting with a letter (it is also the component's name in specs)")
        raise typer.Exit(EXIT_INVALID)
    from blockforge.cli.context import CliContext

    registered = CliContext.of(ctx).registries["norm"]
    if name in registered.names():
        owner = registered.get(name).owner
        err.print(f"[bold red]error[/]: norm component {name!r} is already registered (by {owner}); a second "
                  "one would be refused when both are installed: choose another name")
        raise typer.Exit(EXIT_INVALID)
    target = directory or Path(f"blockforge-{name.replace('_', '-')}")
    if target.exists():
        err.print(f"[bold red]error[/]: {target} already exists; choose another --dir")
        raise typer.Exit(EXIT_INVALID)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:  # write everything aside, then move it into place in one step: never half a package
        for rel, text in render(name).items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    out.print(f"created plugin package [bold]{target}[/] (component norm.{name}); next, on one line:")
    out.print(f"pip install -e {target} && blockforge plugins && pytest {target}", markup=False, highlight=False,
              soft_wrap=True)  # never broken: it is meant to be copied
