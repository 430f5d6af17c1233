"""Hook specifications: the plugin author's manual.

A plugin is a module with functions decorated by :data:`blockforge.hookimpl`, named after the hooks
below, and named by an entry point in the ``blockforge`` group of the plugin's distribution::

    # pyproject.toml of the plugin package
    [project.entry-points.blockforge]
    linformer = "blockforge_linformer.plugin"     # <plugin name> = "<module with the hookimpls>"

    # blockforge_linformer/plugin.py
    from blockforge import hookimpl

    @hookimpl
    def blockforge_register_components(registry):
        registry.register("attention", "linformer", params=LinformerParams, factory=build_linformer)

blockforge loads every installed plugin when it first needs the registries (``blockforge
components``, ``validate``, ``build``, ...). Its own components are registered by the very same hook
(``blockforge/builtins/__init__.py``). ``blockforge plugins`` lists what was loaded.

Rules a plugin follows:

* **Torch-free module top.** The plugin module and its parameter models must not import torch;
  factories import their ``nn.Module`` inside the function body. ``blockforge validate`` and
  ``blockforge components`` never import torch, plugins installed or not (``docs/plugins.md``).
* **Hook names are checked.** A function marked ``@hookimpl`` whose name is not one of the hooks
  below (``blockforge_register_component`` without the ``s``) fails the plugin at load time,
  through pluggy's ``check_pending``; so does a hook implementation that asks for an argument the
  hook does not pass. Implementations may take fewer arguments than the spec lists.
* **Failure is contained.** If the plugin fails to import, raises in a hook, registers a name that
  is already taken, or registers a malformed component, it is reported by name with its
  distribution's version and skipped as a whole (none of its components stay registered); the
  built-ins and other plugins keep working. ``--strict-plugins`` (or ``BLOCKFORGE_STRICT_PLUGINS=1``)
  makes such a failure fatal instead. ``--disable-plugin NAME`` / ``--no-plugins`` (or
  ``BLOCKFORGE_DISABLE_PLUGINS=name,other`` / ``=all``) skip plugins without loading them.

Two hooks exist today: ``blockforge_register_components`` (every plugin) and
``blockforge_check_component`` (the built-ins implement it; a plugin may add its own checks). Hooks
are added when a concrete plugin needs one that registration
cannot express (for example seeing the built model, or adding whole-spec checks); a component's own
shape contracts already belong in its parameter model's ``check(ctx)``, so they need no hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from blockforge.registry.registry import Component, Registries, Registrar

PROJECT = "blockforge"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
"""Marks a plugin function as the implementation of the hook of the same name."""


@hookspec
def blockforge_register_components(registry: Registrar) -> None:
    """Register this plugin's components.

    Called once per plugin, each time a registry set is loaded (once per process for the CLI; tests
    may load fresh sets). Call ``registry.register`` once per component::

        @hookimpl
        def blockforge_register_components(registry):
            registry.register("norm", "dyt", params=DyTParams, factory=build_dyt)

    What a component is made of:

    * ``kind``: one of ``attention``, ``activation``, ``norm``, ``feedforward``, ``positional``,
      ``embedding``, ``block``, ``head``, ``model``, ``loss``, ``optimizer``, ``schedule``
      (:class:`blockforge.registry.Kind`). The kind
      fixes how the built module is called (``norm(x)``, ``attention(x, mask=mask, positions=positions)``,
      ...; ``CALLED_AS`` in :mod:`blockforge.registry.convention`, and ``docs/plugins.md``).
      The training kinds ``loss``, ``optimizer`` and ``schedule`` (named in a spec's ``training:`` section)
      are registered the same way; their factories get a :class:`blockforge.registry.context.TrainContext`
      (``model``, ``model_context``, ``steps``) instead of a ``BuildContext`` and return, for a loss, an
      ``nn.Module`` with ``prepare(batch, generator=, special=)`` and ``forward(output, labels, aux_loss=None)``
      whose parameter model declares ``objective: ClassVar[str]`` (``next_token``, ``masked``,
      ``classification``); for an optimizer, a ``torch.optim.Optimizer`` over ``ctx.model``'s parameters; for
      a schedule, a function ``factor(step) -> float`` (``blockforge/builtins/loss.py``, ``optimizer.py``,
      ``schedule.py`` are the examples).
      Sequence mixers (``attention``) and blocks are always called with ``positions=``: the model's
      per-forward RoPE/ALiBi state (``positions.rotate(q, k)``, ``positions.score_bias(heads, t_q, t_k,
      dtype)``) or None; their ``forward`` must accept it (a build error otherwise), and a block
      passes it on to its mixer.
    * ``name``: what a spec writes as ``type:``; lowercase letters, digits and ``_``. It must not
      already be taken in that kind (by the built-ins or a plugin loaded earlier).
    * ``params``: a pydantic model of the component's parameters, usually a subclass of
      :class:`blockforge.Params` (strict, frozen, documented by attribute docstrings). It must not
      define ``type``. If a parameter is required, declare examples with
      ``model_config = ConfigDict(json_schema_extra={"examples": [{...}]})``; every example must
      validate (checked at load time) and is built by blockforge's registry-driven tests. Define
      ``check(self, ctx)`` to yield ``(field, message)`` for shape contracts that need the build
      context (``ctx.d_model``, ``ctx.max_len``, ...); they are reported by ``blockforge validate``.
      A mixer's parameter model declares what it does with ``positions`` as the class attribute
      ``uses_positions: ClassVar[PositionUse]`` (:data:`blockforge.spec.PositionUse`): ``"applies"``
      (RoPE/ALiBi are applied), ``"inherent"`` (ignored, but the mixer knows token order itself, like
      an LSTM), ``"ignores"`` (the default: ignored and order-blind; with ``positional: rope`` or
      ``alibi`` the spec is refused at that layer) or ``"cross"`` (cross-attention, called with
      ``memory=`` instead). A positional encoding that acts inside attention declares
      ``attention_positions: ClassVar[bool] = True``.
    * ``factory``: ``factory(params, ctx) -> torch.nn.Module``, called when a model is built, with
      the validated parameters and a :class:`blockforge.BuildContext` (``d_model``, ``vocab_size``,
      ``max_len``, ``n_layers``, ``layer``, ``positions``). Import torch and your module class inside
      it. ``ctx.child(params.some_ref)`` builds a nested component reference. Raise ``ValueError`` for
      a value the parameter model could not rule out; it is reported as a build error naming the component.

    Args:
        registry: a :class:`~blockforge.registry.Registrar` owned by this plugin; every component
            registered through it is listed with this plugin as its owner. ``registry.register(kind,
            name, *, params, factory, description=None)`` returns the registered component.

    Raises:
        Anything: an exception here (including a duplicate name or a malformed component) is
        reported with the plugin's name and version, and all of this plugin's registrations are
        dropped; other plugins keep working (strict mode makes it fatal).
    """


@hookspec
def blockforge_check_component(component: Component, registries: Registries) -> None:
    """Refuse a component that a plugin has just registered, if a spec could not use it.

    Called for every component of every third-party plugin, after its ``blockforge_register_components``,
    with every hook implementation loaded so far (the built-ins' check comes first: the component's
    parameter model binds against ``registries`` and every example it declares validates).

    Args:
        component: the registered :class:`~blockforge.registry.Component`.
        registries: the registry set it was registered in (the built-ins and every plugin loaded so far).

    Raises:
        Anything: the plugin that registered ``component`` fails at stage ``check``, with this message,
        and all of its registrations are dropped (strict mode makes it fatal).
    """
