"""A small validator for the subset of JSON Schema (draft 4) the runtime-spec
features schema uses (vendored in tests/fixtures/runtime-spec-schema): type,
properties, required, items, enum, pattern, patternProperties, oneOf and
$ref between those files. The runtime has no jsonschema package and the tests
stay dependency-free. Used by tests/unit/test_features.py and
tests/integration/test_runtime_spec_1_3.py."""

import json
import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMA_DIR = os.path.join(REPO, "tests", "fixtures", "runtime-spec-schema")


class SchemaError(AssertionError):
    pass


def load_schema(name):
    with open(os.path.join(SCHEMA_DIR, name)) as handle:
        return json.load(handle)


def resolve(ref, current):
    """A $ref "file.json#/a/b" (or "#/a/b" in the current file) -> (schema, file)."""
    name, _, pointer = ref.partition("#")
    name = name or current
    node = load_schema(name)
    for part in filter(None, pointer.split("/")):
        node = node[part]
    return node, name


TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def validate(value, schema, where="$", current="features-schema.json"):
    """Raise SchemaError naming the first place `value` breaks `schema`. Any
    keyword this validator does not know fails the test: a schema that grows
    one must grow the validator too."""
    known = {"$schema", "description", "type", "properties", "required", "items", "enum", "pattern",
             "patternProperties", "oneOf", "$ref"}
    unknown = set(schema) - known
    if unknown:
        raise SchemaError("validator does not know %s (at %s)" % (sorted(unknown), where))
    if "$ref" in schema:
        target, name = resolve(schema["$ref"], current)
        validate(value, target, where, name)
    if "type" in schema:
        kind = TYPES[schema["type"]]
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise SchemaError("%s: expected %s, got %r" % (where, schema["type"], value))
    if "enum" in schema and value not in schema["enum"]:
        raise SchemaError("%s: %r is not one of %s" % (where, value, schema["enum"]))
    if "pattern" in schema and not re.search(schema["pattern"], value):
        raise SchemaError("%s: %r does not match %s" % (where, value, schema["pattern"]))
    if "oneOf" in schema:
        passed = 0
        for option in schema["oneOf"]:
            try:
                validate(value, option, where, current)
                passed += 1
            except SchemaError:
                pass
        if passed != 1:
            raise SchemaError("%s: matches %d of oneOf, not exactly one" % (where, passed))
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            if key not in value:
                raise SchemaError("%s: %s is required" % (where, key))
        for key, item in value.items():
            if key in schema.get("properties", {}):
                validate(item, schema["properties"][key], "%s.%s" % (where, key), current)
            for pattern, sub in schema.get("patternProperties", {}).items():
                if re.search(pattern, key):
                    validate(item, sub, "%s.%s" % (where, key), current)
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            validate(item, schema["items"], "%s[%d]" % (where, i), current)
