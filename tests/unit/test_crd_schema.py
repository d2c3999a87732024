"""The CRD in crds/ and the pydantic spec model describe the same fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from siptrunk_operator.spec import GROUP, KIND, PLURAL, VERSION, SipTrunkSpec

CRD_PATH = Path(__file__).resolve().parents[2] / "crds" / "siptrunks.dialogflow.siptrunk.dev.yaml"


def _crd() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(CRD_PATH.read_text())
    return data


def _version_schema() -> dict[str, Any]:
    (version,) = _crd()["spec"]["versions"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def test_names_match_the_code() -> None:
    crd = _crd()
    assert crd["spec"]["group"] == GROUP
    assert crd["spec"]["names"]["kind"] == KIND
    assert crd["spec"]["names"]["plural"] == PLURAL
    assert [v["name"] for v in crd["spec"]["versions"]] == [VERSION]
    assert "dialogflow" in crd["spec"]["names"]["categories"]


def test_spec_fields_match_the_model() -> None:
    spec_schema = _version_schema()["properties"]["spec"]
    model_fields = {info.alias or name for name, info in SipTrunkSpec.model_fields.items()}
    assert set(spec_schema["properties"]) == model_fields
    required_in_model = {info.alias or name for name, info in SipTrunkSpec.model_fields.items()
                         if info.is_required()}
    assert set(spec_schema["required"]) == required_in_model
    for key in ("managementPolicy", "deletionPolicy", "recreateIfMissing"):
        field = next(info for info in SipTrunkSpec.model_fields.values() if info.alias == key)
        default = field.default.value if hasattr(field.default, "value") else field.default
        assert spec_schema["properties"][key]["default"] == default
    assert spec_schema["properties"]["location"]["default"] == SipTrunkSpec.model_fields["location"].default


def test_every_field_has_a_description() -> None:
    def walk(schema: dict[str, Any], path: str) -> list[str]:
        missing = [] if "description" in schema or path in {"", ".metadata"} else [path]
        for key, child in schema.get("properties", {}).items():
            missing += walk(child, f"{path}.{key}")
        if "items" in schema and schema["items"].get("type") == "object":
            missing += walk(schema["items"], f"{path}[]")
        return missing

    assert walk(_version_schema(), "") == []


def test_status_is_a_subresource_with_printer_columns() -> None:
    (version,) = _crd()["spec"]["versions"]
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns[:6] == ["Display Name", "Hostnames", "Connected", "Certificates", "Ready", "Reason"]
