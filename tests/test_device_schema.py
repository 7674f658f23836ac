"""The device contract as firmware teams see it: the committed JSON Schemas are what the
models generate, and the examples in docs/device-protocol.md are valid messages.

`jsonschema` is not a dependency, so the examples are validated by the models, and
checked against the schemas only for fields the schemas do not declare (which the
models would silently ignore).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway import schema
from gateway.protocol import SCHEMAS, ConnectorReading, Telemetry
from pilecare.domain import CommandAckStatus, CommandType, ConnectorStatus, ErrorCode, PileEventType

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "device-protocol.md"
# Examples are marked in the docs with an HTML comment naming their message.
_EXAMPLE = re.compile(r"<!-- example: ([\w-]+) -->\s*```json\n(.*?)```", re.S)
REGENERATE = "run `pilecare schema` and commit gateway/schemas/"


def doc_examples() -> list[tuple[str, str]]:
    return _EXAMPLE.findall(DOCS.read_text(encoding="utf-8"))


def doc_telemetry() -> str:
    return next(text for name, text in doc_examples() if name == "telemetry")


def undeclared_fields(instance, node: dict, defs: dict, where: str = "payload"):
    """Paths of keys in `instance` that the schema does not declare."""
    if "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[-1]]
    for option in node.get("anyOf", []):
        yield from undeclared_fields(instance, option, defs, where)
    if isinstance(instance, dict) and "properties" in node:
        for key, value in instance.items():
            if key in node["properties"]:
                yield from undeclared_fields(value, node["properties"][key], defs, f"{where}.{key}")
            else:
                yield f"{where}.{key}"
    elif isinstance(instance, list) and "items" in node:
        for i, item in enumerate(instance):
            yield from undeclared_fields(item, node["items"], defs, f"{where}.{i}")


# --- the committed schemas ---------------------------------------------------------

@pytest.mark.parametrize("name", list(SCHEMAS))
def test_the_committed_schema_is_what_the_model_generates(name):
    path = schema.schema_path(name)
    assert path.exists(), f"{path.relative_to(ROOT)} is missing: {REGENERATE}"
    assert path.read_text(encoding="utf-8") == schema.render(name), (
        f"{path.relative_to(ROOT)} is out of date with gateway/protocol.py: {REGENERATE}"
    )


def test_there_is_no_schema_file_for_a_message_the_contract_does_not_have():
    expected = {schema.schema_path(name).name for name in SCHEMAS}
    found = {p.name for p in schema.SCHEMA_DIR.glob("*.json")}
    assert found == expected, f"stray schema files {sorted(found - expected)}: delete them and {REGENERATE}"


def test_each_schema_is_draft_2020_12_with_its_own_id_and_says_how_strict_validation_is():
    ids = set()
    for name in SCHEMAS:
        s = schema.schema_of(name)
        assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert name in s["$id"] and name in s["title"]
        ids.add(s["$id"])
        if name != "commands":
            for rule in ("number sent as a string", "NaN and Infinity are refused", "extra fields are ignored"):
                assert rule in s["description"], f"{name}: description does not say {rule!r}"
    assert len(ids) == len(SCHEMAS)


def test_write_schemas_writes_one_pretty_sorted_file_per_message(tmp_path):
    paths = schema.write_schemas(tmp_path)
    assert [p.name for p in paths] == [f"{name}.v1.json" for name in SCHEMAS]
    for name, path in zip(SCHEMAS, paths):
        text = path.read_text(encoding="utf-8")
        assert text.endswith("}\n") and text == schema.render(name)
        assert json.loads(text) == schema.schema_of(name)


# --- the examples in the docs ----------------------------------------------------------

def test_the_docs_telemetry_example_is_a_valid_telemetry_message():
    message = Telemetry.model_validate_json(doc_telemetry())
    assert message.v == 1 and message.seq > 0
    assert [c.id for c in message.connectors] == [1, 2]


def test_every_example_in_the_docs_is_a_valid_message():
    examples = doc_examples()
    assert {name for name, _ in examples} == set(SCHEMAS), "every message needs an example in the docs"
    for name, text in examples:
        try:
            SCHEMAS[name].model_validate_json(text)
        except ValidationError as error:
            pytest.fail(f"docs example for {name} is invalid: {error}\n{text}")


def test_the_docs_examples_use_only_fields_the_schemas_declare():
    # An undeclared field is ignored by the platform, so a typo in the docs would pass
    # the model and mislead every firmware team that copies the example.
    for name, text in doc_examples():
        s = schema.schema_of(name)
        stray = list(undeclared_fields(json.loads(text), s, s.get("$defs", {})))
        assert not stray, f"docs example for {name} has fields the contract does not know: {stray}"


def test_every_field_and_vocabulary_value_of_the_contract_is_named_in_the_docs():
    docs = DOCS.read_text(encoding="utf-8")
    fields = {f for model in (*SCHEMAS.values(), ConnectorReading) for f in model.model_fields}
    values = {e.value for vocabulary in (ConnectorStatus, ErrorCode, PileEventType, CommandType, CommandAckStatus)
              for e in vocabulary}
    missing = sorted(name for name in fields | values if f"`{name}`" not in docs)
    assert not missing, f"docs/device-protocol.md does not describe {missing}"


# --- what the model refuses --------------------------------------------------------------

def _telemetry_with(**connector_changes) -> str:
    body = json.loads(doc_telemetry())
    body["connectors"][0].update(connector_changes)
    return json.dumps(body)


def _refusal(payload: str | bytes) -> list[dict]:
    with pytest.raises(ValidationError) as caught:
        Telemetry.model_validate_json(payload)
    return caught.value.errors()


def test_a_number_sent_as_a_string_is_refused():
    (error,) = _refusal(_telemetry_with(voltage_v="398.5"))
    assert error["loc"] == ("connectors", 0, "voltage_v") and error["type"] == "float_type"


def test_nan_is_refused():
    payload = _telemetry_with(voltage_v=12345.5).replace("12345.5", "NaN")
    (error,) = _refusal(payload)
    assert error["loc"] == ("connectors", 0, "voltage_v") and error["type"] == "finite_number"


def test_infinity_is_refused():
    payload = _telemetry_with(temp_c=12345.5).replace("12345.5", "Infinity")
    (error,) = _refusal(payload)
    assert error["loc"] == ("connectors", 0, "temp_c") and error["type"] == "finite_number"


def test_an_unknown_connector_status_is_refused():
    (error,) = _refusal(_telemetry_with(status="charging"))
    assert error["loc"] == ("connectors", 0, "status") and error["type"] == "enum"


def test_a_telemetry_message_without_seq_is_refused():
    body = json.loads(doc_telemetry())
    del body["seq"]
    (error,) = _refusal(json.dumps(body))
    assert error["loc"] == ("seq",) and error["type"] == "missing"


def test_a_seq_written_with_a_decimal_point_is_refused():
    body = json.loads(doc_telemetry())
    payload = json.dumps(body).replace(f'"seq": {body["seq"]}', f'"seq": {body["seq"]}.0')
    (error,) = _refusal(payload)
    assert error["loc"] == ("seq",) and error["type"] == "int_type"


def test_an_unknown_extra_field_is_ignored_not_refused():
    body = json.loads(doc_telemetry())
    body["firmware_build"] = "2026-11-01"
    assert Telemetry.model_validate_json(json.dumps(body)).seq == body["seq"]
