"""JSON Schema of specs for the installed components (plugins included). Torch-free.

Pydantic derives the schema from the bound :class:`~blockforge.spec.models.SpecFile`; this module
makes it say what blockforge accepts: each component object requires its ``type`` (the union is
discriminated by it), a bare component name is valid wherever a reference is, and a spec may
``extends:`` other files.
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
        names = [refs[o["$ref"]] for o in one]
        rest = {k: v for k, v in node.items() if k != "oneOf"}
        choices: list[Any] = [{"type": "string", "enum": names, "description": "shorthand for {type: name}"},
                              {"oneOf": one}]
        default = rest.get("default")
        default = default.get("type") if isinstance(default, dict) else default
        ref = next((o["$ref"] for o in one if refs[o["$ref"]] == default), None)
        if ref is not None:  # a mapping without `type` patches the field's default component
            key = ref.rsplit("/", 1)[1]
            patches[f"{key}_patch"] = key
            choices.append({"$ref": f"#/$defs/{key}_patch"})
        return {**rest, "anyOf": choices}
    return node


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
    props = schema.setdefault("properties", {})
    props["extends"] = {
        "description": "Base spec file(s) this one is deep-merged over, relative to this file.",
        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}],
    }
    return {"$schema": DIALECT, "title": "blockforge spec", **{k: v for k, v in schema.items() if k != "title"}}


__all__ = ["spec_schema"]
