"""Terraform state (format 4) and `terraform show -json` into trunk records."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from siptrunk_operator.inventory.terraform import ParsedState, TerraformStateError, parse_state

FIXTURES = Path(__file__).parents[1] / "fixtures" / "terraform"
TYPE = "google_dialogflow_sip_trunk"


def trunk_attributes(trunk_id: str = "abc", project: str = "p-proj", location: str = "global",
                     **overrides: Any) -> dict[str, Any]:
    name = f"projects/{project}/locations/{location}/sipTrunks/{trunk_id}"
    return {"id": name, "name": name, "project": project, "location": location, "display_name": "A",
            "expected_hostname": ["sbc.example.com"], "deletion_policy": "DELETE", "connections": [], **overrides}


def v4(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"version": 4, "terraform_version": "1.9.8", "serial": 1, "lineage": "x", "outputs": {},
            "resources": list(resources)}


def v4_resource(name: str, *instances: dict[str, Any], module: str | None = None, mode: str = "managed",
                kind: str = TYPE) -> dict[str, Any]:
    resource = {"mode": mode, "type": kind, "name": name, "instances": list(instances),
                "provider": "provider[\"registry.terraform.io/hashicorp/google\"]"}
    return {"module": module, **resource} if module else resource


def show(root: dict[str, Any], *, key: str = "values") -> dict[str, Any]:
    body: dict[str, Any] = {"root_module": root}
    return {"format_version": "1.0", key: body if key == "values" else {"values": body}}


def show_resource(address: str, values: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"address": address, "mode": "managed", "type": TYPE, "name": address.split(".")[-1].split("[")[0],
            "values": values, **extra}


def summary(state: ParsedState) -> list[tuple[str, str | None, str | None, list[str], str | None]]:
    return [(r.source, r.trunk.name, r.trunk.display_name, r.trunk.expected_hostname,
             None if r.deletion_policy is None else str(r.deletion_policy)) for r in state.records]


@pytest.mark.parametrize("fixture", ["terraform.tfstate", "show.json"])
def test_fixture_in_both_formats(fixture: str) -> None:
    expected = json.loads((FIXTURES / "expected-trunks.json").read_text())
    state = parse_state(json.loads((FIXTURES / fixture).read_text()))
    assert summary(state) == [(f"terraform: {e['address']}", e["name"], e["displayName"], e["expectedHostname"],
                               e["deletionPolicy"]) for e in expected]
    assert state.warnings == ()


@pytest.mark.parametrize(
    ("state", "addresses"),
    [
        (v4(v4_resource("one", {"attributes": trunk_attributes("a")})), [f"{TYPE}.one"]),
        (v4(v4_resource("counted", {"index_key": 0, "attributes": trunk_attributes("a")},
                        {"index_key": 1, "attributes": trunk_attributes("b")})),
         [f"{TYPE}.counted[0]", f"{TYPE}.counted[1]"]),
        (v4(v4_resource("each", {"index_key": "eu west", "attributes": trunk_attributes("a")})),
         [f'{TYPE}.each["eu west"]']),
        (v4(v4_resource("nested", {"index_key": "x", "attributes": trunk_attributes("a")},
                        module='module.sites["fra"].module.sbc')),
         [f'module.sites["fra"].module.sbc.{TYPE}.nested["x"]']),
        (v4(v4_resource("other", {"attributes": {"id": "x"}}, kind="google_project_service"),
            v4_resource("lookup", {"attributes": trunk_attributes("a")}, mode="data")), []),
        (show({"resources": [show_resource(f"{TYPE}.one", trunk_attributes("a"))],
               "child_modules": [{"address": "module.m", "resources": [
                   show_resource(f"module.m.{TYPE}.two[0]", trunk_attributes("b"), index=0)],
                   "child_modules": [{"address": "module.m.module.n", "resources": [
                       show_resource(f'module.m.module.n.{TYPE}.three["k"]', trunk_attributes("c"), index="k")]}]}]}),
         [f"{TYPE}.one", f"module.m.{TYPE}.two[0]", f'module.m.module.n.{TYPE}.three["k"]']),
        (show({"resources": [show_resource(f"{TYPE}.planned", trunk_attributes("a"))]}, key="prior_state"),
         [f"{TYPE}.planned"]),
        ({"format_version": "1.0"}, []),  # `terraform show -json` of an empty state
        (v4(), []),
    ],
)
def test_instances_and_their_addresses(state: dict[str, Any], addresses: list[str]) -> None:
    assert [record.source for record in parse_state(state).records] == [f"terraform: {a}" for a in addresses]


def test_deposed_objects_are_skipped_with_a_warning() -> None:
    state = parse_state(v4(v4_resource("r", {"attributes": trunk_attributes("a")},
                                       {"deposed": "00000001", "attributes": trunk_attributes("old")})))
    assert [record.trunk.name for record in state.records] == ["projects/p-proj/locations/global/sipTrunks/a"]
    assert state.warnings == (f"{TYPE}.r: skipped a deposed object (Terraform is replacing it)",)


@pytest.mark.parametrize(
    ("attributes", "name", "display_name", "policy"),
    [
        (trunk_attributes("a", display_name=""), "projects/p-proj/locations/global/sipTrunks/a", None, None),
        (trunk_attributes("a", display_name=None, deletion_policy=None), "projects/p-proj/locations/global/sipTrunks/a",
         None, None),
        (trunk_attributes("a", deletion_policy="ABANDON"), "projects/p-proj/locations/global/sipTrunks/a", "A",
         "Abandon"),
        (trunk_attributes("a", deletion_policy="PREVENT"), "projects/p-proj/locations/global/sipTrunks/a", "A",
         "Abandon"),
        ({**trunk_attributes("a", location="europe-west3"), "name": None},
         "projects/p-proj/locations/europe-west3/sipTrunks/a", "A", None),  # id has the same value
        ({k: v for k, v in trunk_attributes("a").items() if k not in ("project", "location")},
         "projects/p-proj/locations/global/sipTrunks/a", "A", None),
    ],
)
def test_attributes(attributes: dict[str, Any], name: str, display_name: str | None, policy: str | None) -> None:
    [record] = parse_state(v4(v4_resource("r", {"attributes": attributes}))).records
    assert (record.trunk.name, record.trunk.display_name, record.deletion_policy) == (name, display_name, policy)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "expected a JSON object"),
        ({"version": 3, "modules": []}, "unsupported Terraform state version 3"),
        ({"serial": 1}, "unsupported Terraform state version None"),
        (v4(v4_resource("r", {"attributes": {**trunk_attributes(), "name": None, "id": None}})),
         f"{TYPE}.r: no trunk name"),
        (v4(v4_resource("r", {"attributes": trunk_attributes(name="sipTrunks/abc")})),
         f"{TYPE}.r: 'sipTrunks/abc' is not a trunk name"),
        (v4(v4_resource("r", {"index_key": 2, "attributes": trunk_attributes(project="other-proj")
                              | {"name": "projects/p-proj/locations/global/sipTrunks/abc"}})),
         f"{TYPE}.r[2]: project 'other-proj' does not match"),
        (v4(v4_resource("r", {"attributes": trunk_attributes() | {"location": "us-east1"}})),
         f"{TYPE}.r: location 'us-east1' does not match"),
        (v4(v4_resource("r", {"attributes": trunk_attributes(expected_hostname="sbc.example.com")})),
         f"{TYPE}.r: expected_hostname is not a list"),
    ],
)
def test_unusable_states(data: object, message: str) -> None:
    with pytest.raises(TerraformStateError, match=re.escape(message)):
        parse_state(data)
