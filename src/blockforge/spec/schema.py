"""JSON Schema of specs for the installed components (plugins included). Torch-free.

Pydantic derives the schema from the bound :class:`~blockforge.spec.models.SpecFile`; this module
makes it say what the loader accepts, and makes errors land where an editor should show them: each
component object requires its ``type`` and is checked against the component that ``type`` names
(``if``/``then``, never ``oneOf``, so a misspelt key is reported inside the component); a bare
component name is valid wherever a reference is; any value may be a ``${...}`` reference; any mapping
may carry ``$patch``; and a spec that ``extends:`` others may leave out what its bases provide.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from blockforge.registry.registry import Registries
from blockforge.spec.binding import bind
from blockforge.spec.models import SpecFile

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _component_names(defs: dict[str, Any]) -> dict[str, str]:
    """``#/$defs/X`` -> component name, for every component definition."""
    out = {}
    for name, d in defs.items():
        t = d.get("properties", {}).get("type", {})
        if isinstance(t, dict) and "const" in t and "." in str(d.get("title", "")):
            out[f"#/$defs/{name}"] = t["const"]
            required = d.setdefault("required", [])
            if "type" not in required:
                required.insert(0, "type")
    return out


def _choice(one: list[dict[str, Any]], refs: dict[str, str], patch: str | None = None) -> dict[str, Any]:
    """A component reference, discriminated on ``type`` with ``if``/``then`` (no ``oneOf``/``anyOf``), so a
    validator reports an error inside the component that ``type`` names, at its own path (``kv_head``
    unexpected at ``model.block.attention``), not "not valid under any of the given schemas" above it.
    With ``patch`` (the field has a default component), a mapping without ``type`` is checked against it."""
    names = [refs[o["$ref"]] for o in one]
    typed: dict[str, Any] = {
        "properties": {"type": {"enum": names, "description": "the component's registered name"}},
        "allOf": [{"if": {"required": ["type"], "properties": {"type": {"const": n}}}, "then": o}
                  for n, o in zip(names, one, strict=True)],
    }
    if patch is None:
        mapping = {"required": ["type"], **typed}
    else:
        mapping = {"if": {"required": ["type"]}, "then": typed, "else": {"$ref": patch}}
    return {
        "type": ["string", "object"],
        "if": {"type": "string"},
        "then": {"enum": names, "description": "shorthand for {type: name}"},
        "else": mapping,
    }


def _rewrite(node: Any, refs: dict[str, str], patches: dict[str, str]) -> Any:
    """Add the shorthands to every slot: a bare name, and (where the field has a default component) a mapping
    without ``type``, which patches that default; ``patches`` collects the definitions the latter need.

    Written by hand rather than as the slots' ``BeforeValidator(json_schema_input_type=...)`` (issue 11 item 8):
    measured, that pydantic-native version (same schema, the tests pass with it) makes the first validation of
    ``specs/tiny-gemma2.yaml`` 55 ms slower (265 -> 321 ms, median of 10 alternating fresh processes on the 2-core
    CI machine; ~100 ms without the default patches' models), a cost every ``blockforge validate`` pays for a
    schema only ``blockforge schema`` needs. Post-processing the exported schema costs validation nothing.
    """
    if isinstance(node, list):
        return [_rewrite(n, refs, patches) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _rewrite(v, refs, patches) for k, v in node.items()}
    one = node.get("oneOf")
    if isinstance(one, list) and one and all(isinstance(o, dict) and o.get("$ref") in refs for o in one):
        rest = {k: v for k, v in node.items() if k not in ("oneOf", "discriminator")}
        default = rest.get("default")
        default = default.get("type") if isinstance(default, dict) else default
        ref = next((o["$ref"] for o in one if refs[o["$ref"]] == default), None)
        patch = None
        if ref is not None:  # a mapping without `type` patches the field's default component
            key = ref.rsplit("/", 1)[1]
            patches[f"{key}_patch"] = key
            patch = f"#/$defs/{key}_patch"
        return {**rest, **_choice(one, refs, patch)}
    return node


#: A string holding a ``${...}`` reference: accepted wherever a value is (the loader resolves it first).
REFERENCE = {"type": "string", "pattern": r"\$\{"}
_KEEP = ("title", "description", "default", "examples")


def _loader_syntax(node: Any) -> Any:
    """Accept what the loader accepts: a ``${...}`` reference for any property (its value is checked after
    resolution, not here) and ``$patch: replace|delete`` in any mapping."""
    if isinstance(node, list):
        return [_loader_syntax(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _loader_syntax(v) for k, v in node.items()}
    props = node.get("properties")
    if isinstance(props, dict) and "$patch" not in props:
        wrapped = {}
        for key, sub in props.items():
            if key == "type" or not isinstance(sub, dict):
                wrapped[key] = sub
                continue
            wrapped[key] = {**{k: sub[k] for k in _KEEP if k in sub}, "if": REFERENCE, "then": True, "else": sub}
        wrapped["$patch"] = {"enum": ["replace", "delete"],
                             "description": "with extends: replace this mapping, or delete this key"}
        node["properties"] = wrapped
    return node


def _partial(node: Any) -> Any:
    """The same schema with nothing required and ``$defs`` references renamed ``X__partial``: what a spec
    that ``extends`` another may leave to its base."""
    if isinstance(node, list):
        return [_partial(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: (v if k == "if" else _partial(v)) for k, v in node.items() if k != "required"}  # an `if` keeps
    # its `required`: a component is checked against the one its `type` names only when it has one
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        out["$ref"] = ref + "__partial"
    return out


class _DocumentedSchema(GenerateJsonSchema):
    """Pydantic's JSON Schema generator, with each field's docstring as its description where the field
    declares none. The descriptions go into the schema only: no registered class is changed."""

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        from blockforge.spec.params import field_docs

        json_schema = super().model_schema(schema)
        props = json_schema.get("properties")
        if isinstance(props, dict):
            for name, doc in field_docs(schema["cls"]).items():
                prop = props.get(name)
                if isinstance(prop, dict) and "description" not in prop:
                    prop["description"] = doc
        return json_schema


def spec_schema(registries: Registries) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a spec file for ``registries``.

    Args:
        registries: the components a spec may name (built-ins plus installed plugins by default).

    Returns:
        The schema as plain data; descriptions come from the parameter models' field docstrings.
    """
    schema = bind(SpecFile, registries).model_json_schema(schema_generator=_DocumentedSchema)
    defs = schema.get("$defs", {})
    refs = _component_names(defs)
    patches: dict[str, str] = {}
    schema = _rewrite(schema, refs, patches)
    for patch, key in patches.items():
        d = dict(schema["$defs"][key])
        d["required"] = [r for r in d.get("required", []) if r != "type"]
        d["title"] = f"{d.get('title', key)} (patch of the default)"
        schema["$defs"][patch] = d
    schema = _loader_syntax(schema)
    defs = schema.pop("$defs", {})
    schema.pop("title", None)
    extends = {
        "description": "Base spec file(s) this one is deep-merged over, relative to this file.",
        "type": ["string", "array"], "items": {"type": "string"}, "minItems": 1,
    }
    strict = {**schema, "properties": {**schema.get("properties", {}), "extends": extends}}
    partial = _partial(strict)
    all_defs = {**defs, **{f"{k}__partial": _partial(v) for k, v in defs.items()}}
    return {"$schema": DIALECT, "title": "blockforge spec",
            "description": "A blockforge spec. With `extends`, keys the base provides may be left out (and a "
                           "component is checked where its `type` is written).",
            "if": {"type": "object", "required": ["extends"]}, "then": partial, "else": strict,
            "$defs": all_defs}


__all__ = ["spec_schema"]
