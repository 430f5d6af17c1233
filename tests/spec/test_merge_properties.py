"""Properties of the merge and of layer selection (hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blockforge.spec.merge import merge
from blockforge.spec.plan import select

keys = st.sampled_from(["a", "b", "c", "d"])
leaves = st.one_of(st.integers(-5, 5), st.booleans(), st.none(), st.text(max_size=3))
trees = st.recursive(leaves, lambda inner: st.dictionaries(keys, inner, max_size=4), max_leaves=8)
maps = st.dictionaries(keys, trees, max_size=4)


def leaf_paths(value, at=(), empty=False):
    """Paths of the leaves (an empty mapping counts as a leaf only with ``empty``)."""
    if isinstance(value, dict):
        if not value and empty:
            yield at
        for k, v in value.items():
            yield from leaf_paths(v, (*at, k), empty)
    else:
        yield at


def related(p, q):
    n = min(len(p), len(q))
    return p[:n] == q[:n]


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def get(value, path):
    for p in path:
        value = value[p]
    return value


@FAST
@given(maps)
def test_empty_patch_and_self_patch_are_identities(base):
    assert merge(base, {}).value == base
    assert merge(base, base).value == base


@FAST
@given(maps, maps)
def test_every_patch_leaf_wins_and_is_traced_to_the_patch(base, patch):
    m = merge(base, patch, tag="p")
    for path in leaf_paths(patch):
        if not path:
            continue
        assert get(m.value, path) == get(patch, path)
        origin = m.origin(path)
        assert origin is not None and origin[0] == "p" and origin[1] == path
    patched = list(leaf_paths(patch, empty=True))
    for path in leaf_paths(base):
        if path and not any(related(path, q) for q in patched):
            assert get(m.value, path) == get(base, path) and m.origin(path) is None


@FAST
@given(st.integers(1, 40), st.one_of(st.none(), st.integers(-45, 45)), st.one_of(st.none(), st.integers(-45, 45)),
       st.one_of(st.none(), st.integers(1, 7), st.integers(-7, -1)))
def test_slice_selection_matches_python(n, start, stop, step):
    text = f"{'' if start is None else start}:{'' if stop is None else stop}" + (
        "" if step is None else f":{step}")
    expected = sorted(list(range(n))[slice(start, stop, step)])
    if not expected:
        try:
            select(text, n)
        except ValueError:
            return
        raise AssertionError("an empty selection must be refused")
    assert select(text, n) == expected


def expand_names(value):
    """Every string leaf written as ``{type: name}`` (the expanded form of a bare component name)."""
    if isinstance(value, dict):
        return {k: v if k == "type" else expand_names(v) for k, v in value.items()}
    return {"type": value} if isinstance(value, str) else value


def typeless(value):
    """A patch with no ``type`` keys (a ``type`` in a patch may replace a component, which expanded or not)."""
    if isinstance(value, dict):
        return {k: typeless(v) for k, v in value.items() if k != "type"}
    return value


@FAST
@given(maps, maps)
def test_a_bare_name_merges_like_its_expanded_form(base, patch):
    """A mapping patch over a bare name gives what it gives over ``{type: name}`` (issue 12, item 4)."""
    patch = typeless(patch)
    over_names = merge(base, patch).value
    over_expanded = merge(expand_names(base), patch).value
    assert expand_names(over_names) == expand_names(over_expanded)
