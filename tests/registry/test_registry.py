"""The registry: registration, duplicates, unknown names, malformed components, plugin isolation."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from blockforge.errors import DuplicateComponentError, PluginError, RegistryError, UnknownComponentError
from blockforge.registry import Kind, Registries, hookimpl, load_plugins
from blockforge.spec import Params


class P(Params):
    """A parameterless test component."""


def factory(p, ctx):  # pragma: no cover - never built here
    raise AssertionError


def test_one_registry_per_kind_and_fresh_objects():
    a, b = Registries(), Registries()
    assert set(a) == {k.value for k in Kind}
    a.register("norm", "x", params=P, factory=factory, owner="me")
    assert "x" in a["norm"] and "x" not in b["norm"]


def test_duplicate_names_both_owners():
    r = Registries()
    r.register("norm", "x", params=P, factory=factory, owner="alpha")
    with pytest.raises(DuplicateComponentError, match="'alpha' and 'beta'"):
        r.register("norm", "x", params=P, factory=factory, owner="beta")
    # the same name in another kind is fine
    r.register("activation", "x", params=P, factory=factory, owner="beta")


def test_unknown_name_lists_nearest(registries):
    with pytest.raises(UnknownComponentError) as info:
        registries["activation"].get("leaky_rel")
    assert info.value.suggestions[0] == "leaky_relu"
    assert "did you mean 'leaky_relu'" in str(info.value)


def test_unknown_name_without_near_match_lists_all(registries):
    with pytest.raises(UnknownComponentError, match="registered: gelu, gelu_tanh, leaky_relu, relu, relu_squared, silu, softmax, tanh"):
        registries["activation"].get("zzzzzz")


@pytest.mark.parametrize(
    ("name", "params", "fac", "match"),
    [
        ("Bad-Name", P, factory, "invalid norm component name"),
        ("ok", dict, factory, "must be a pydantic BaseModel"),
        ("ok", P, "not callable", "is not callable"),
    ],
)
def test_malformed_registrations(name, params, fac, match):
    with pytest.raises(RegistryError, match=match):
        Registries().register("norm", name, params=params, factory=fac)


def test_reserved_type_field():
    class WithType(BaseModel):
        type: str = "x"

    with pytest.raises(RegistryError, match="reserved"):
        Registries().register("norm", "x", params=WithType, factory=factory)


def test_unknown_kind():
    with pytest.raises(RegistryError, match="unknown component kind 'normz'"):
        Registries()["normz"]


def test_builtins_register_through_the_hook():
    ps = load_plugins(entry_points=False)
    (builtin,) = [p for p in ps.plugins if p.name == "builtins"]
    assert builtin.status == "loaded"
    assert "activation.relu" in builtin.components and "model.lm" in builtin.components
    assert all(c.owner == "builtins" for c in ps.registries.components())


class _Good:
    @hookimpl
    def blockforge_register_components(self, registry):
        registry.register("norm", "goodnorm", params=P, factory=factory)


class _Raises:
    @hookimpl
    def blockforge_register_components(self, registry):
        registry.register("norm", "half_registered", params=P, factory=factory)
        raise RuntimeError("boom")


class _Steals:
    @hookimpl
    def blockforge_register_components(self, registry):
        registry.register("activation", "relu", params=P, factory=factory)


class _Misspelt:
    @hookimpl
    def blockforge_register_component(self, registry):  # missing the trailing 's'
        pass


def test_failing_plugins_are_isolated():
    ps = load_plugins(
        entry_points=False,
        extra=[("good", _Good()), ("raises", _Raises()), ("steals", _Steals()), ("misspelt", _Misspelt())],
    )
    status = {p.name: p for p in ps.plugins}
    assert status["good"].status == "loaded" and status["good"].components == ["norm.goodnorm"]
    assert status["raises"].status == "failed" and "boom" in status["raises"].error
    assert "half_registered" not in ps.registries["norm"]  # nothing half-registered is left
    assert status["steals"].status == "failed" and "'builtins' and 'steals'" in status["steals"].error
    assert ps.registries["activation"].get("relu").owner == "builtins"
    assert status["misspelt"].status == "failed"
    assert "blockforge_register_component" in status["misspelt"].error


def test_strict_mode_is_fatal():
    with pytest.raises(PluginError, match="raises"):
        load_plugins(entry_points=False, strict=True, extra=[("raises", _Raises())])


def test_disable_by_name():
    ps = load_plugins(entry_points=False, disable=["good"], extra=[("good", _Good())])
    assert "goodnorm" not in ps.registries["norm"]
    assert {p.name: p.status for p in ps.plugins}["good"] == "disabled"


def test_derived_values_live_on_the_registry_set_and_follow_its_contents():
    """The spec binder is cached on the registries object (not in its ``__dict__`` by another module's
    name) and is made again when a component is registered or removed."""
    from pydantic import BaseModel

    from blockforge.spec.binding import binder

    regs = load_plugins(entry_points=False, strict=True).registries
    first = binder(regs)
    assert binder(regs) is first
    assert "_binders" not in vars(regs)

    class P(BaseModel):
        pass

    regs.register("norm", "derived_probe", params=P, factory=lambda p, ctx: None)
    second = binder(regs)
    assert second is not first and "derived_probe" in {c.name for c in second.registries["norm"]}
    regs["norm"].remove("derived_probe")
    assert binder(regs) is not second
    calls = []
    assert regs.derived("probe", lambda r: calls.append(r) or len(calls)) == 1
    assert regs.derived("probe", lambda r: calls.append(r) or len(calls)) == 1  # cached
