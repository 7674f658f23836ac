"""JSON Schemas of device contract v1, generated from the pydantic models.

Firmware teams validate against these files without reading Python, so they are
committed (gateway/schemas/) and a test fails when a model changes without them being
regenerated: `pilecare schema`.
"""
from __future__ import annotations

import json
from pathlib import Path

from gateway.protocol import SCHEMAS

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
VERSION = 1

# Where each message travels, for the schema's description (docs/device-protocol.md).
_TRAVEL = {
    "telemetry": "Published by the pile on `{prefix}/piles/{pile_id}/telemetry`, QoS 1, not retained.",
    "status": "Published by the pile on `{prefix}/piles/{pile_id}/status`, QoS 1, retained: state online "
              'on every connect; the last will is `{"v":1,"state":"offline","reason":"connection_lost"}`.',
    "events": "Published by the pile on `{prefix}/piles/{pile_id}/events`, QoS 1, not retained.",
    "commands": "Published by the platform on `{prefix}/piles/{pile_id}/commands`; the pile subscribes "
                "with QoS 1.",
    "commands-ack": "Published by the pile on `{prefix}/piles/{pile_id}/commands/ack`, QoS 1, not retained.",
}

# What strict validation means for a payload, since JSON Schema alone cannot say it all.
_UPLINK_RULES = (
    "Validation is strict: a number sent as a string (\"400.1\") is refused, as is true/false where a "
    "number is expected and a decimal point where an integer is expected (seq 5.0); NaN and "
    "Infinity are refused (they are not JSON); timestamps are RFC 3339 strings with a UTC offset. "
    "Unknown extra fields are ignored, so a pile may send fields before the platform knows them. "
    "A message that fails validation is dead-lettered with a reason, not stored. The payload is one "
    "UTF-8 JSON object of at most 64 KiB."
)
_DOWNLINK_RULES = (
    "Produced by the platform with the same strict types (numbers are numbers, timestamps are RFC 3339 "
    "with a UTC offset). A pile must ignore fields it does not know, as the platform does."
)
_DOCS = "Contract: docs/device-protocol.md."


def schema_of(name: str) -> dict:
    """The JSON Schema (draft 2020-12) of one message of `gateway.protocol.SCHEMAS`."""
    model = SCHEMAS[name]
    schema = model.model_json_schema()
    summary = (model.__doc__ or "").strip().splitlines()[0]
    rules = _DOWNLINK_RULES if name == "commands" else _UPLINK_RULES
    schema.update({
        "$schema": DRAFT,
        "$id": f"urn:pilecare:device-protocol:v{VERSION}:{name}",
        "title": f"pilecare device protocol v{VERSION}: {name}",
        "description": " ".join((summary, _TRAVEL[name], rules, _DOCS)),
    })
    return schema


def render(name: str) -> str:
    """The exact text of a schema file: stable key order so diffs show real changes."""
    return json.dumps(schema_of(name), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def schema_path(name: str, directory: Path = SCHEMA_DIR) -> Path:
    return directory / f"{name}.v{VERSION}.json"


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write one schema file per message; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in SCHEMAS:
        path = schema_path(name, directory)
        path.write_text(render(name), encoding="utf-8")
        paths.append(path)
    return paths
