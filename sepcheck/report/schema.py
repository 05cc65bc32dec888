"""The JSON Schema of the report, generated from the report's own models."""

from __future__ import annotations

import json
from typing import Any

from sepcheck.report.model import SCHEMA_VERSION, Report


def report_schema() -> dict[str, Any]:
    schema = Report.model_json_schema()
    return {
        **schema,
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://sepcheck.invalid/schema/report-v{SCHEMA_VERSION}.json",
        "title": f"sepcheck report, schema_version {SCHEMA_VERSION}",
    }


def report_schema_text() -> str:
    return json.dumps(report_schema(), indent=2, sort_keys=True) + "\n"
