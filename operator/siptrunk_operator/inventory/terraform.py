"""``google_dialogflow_sip_trunk`` instances from Terraform state: the state file itself (format
version 4) or ``terraform show -json`` output, with ``count``/``for_each`` indices and modules.

Attributes are the provider's (``name``, ``id``, ``project``, ``location``, ``expected_hostname``,
``display_name``, ``deletion_policy``); ``name`` (``id`` has the same value) is the trunk to adopt.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from siptrunk_operator.models import SipTrunk, TrunkName
from siptrunk_operator.spec import DeletionPolicy

from .errors import InventoryError
from .manifests import TrunkRecord

RESOURCE_TYPE = "google_dialogflow_sip_trunk"
_KEEPS_THE_TRUNK = {"ABANDON", "PREVENT"}
"""Terraform ``deletion_policy`` values under which destroying the resource leaves the trunk."""


class TerraformStateError(InventoryError):
    """The file is not a state this reader understands, or an instance in it is unusable."""


@dataclass(frozen=True)
class ParsedState:
    records: tuple[TrunkRecord, ...]
    warnings: tuple[str, ...] = ()


def parse_state(data: object) -> ParsedState:
    """Every SIP trunk instance in ``data`` (already JSON-decoded), in the state's order."""
    if not isinstance(data, dict):
        raise TerraformStateError("not a Terraform state: expected a JSON object")
    if "format_version" in data:
        instances = _show_instances(data)
    elif data.get("version") == 4:
        instances = _v4_instances(data)
    else:
        raise TerraformStateError(f"unsupported Terraform state version {data.get('version')!r}: pass a state file "
                                  "(version 4, Terraform 0.12 and later) or `terraform show -json` output")
    records: list[TrunkRecord] = []
    warnings: list[str] = []
    for address, attributes, deposed in instances:
        if deposed:
            warnings.append(f"{address}: skipped a deposed object (Terraform is replacing it)")
        else:
            records.append(_record(address, attributes))
    return ParsedState(tuple(records), tuple(warnings))


_Instance = tuple[str, Mapping[str, Any], bool]
"""(address, attributes, deposed)."""


def _index(key: object) -> str:
    """The address suffix of a ``count`` (``[0]``) or ``for_each`` (``["primary"]``) instance."""
    if key is None:
        return ""
    return f"[{key}]" if isinstance(key, int) else f"[{json.dumps(key)}]"


def _v4_instances(state: Mapping[str, Any]) -> Iterator[_Instance]:
    for resource in _dicts(state.get("resources")):
        if resource.get("mode") != "managed" or resource.get("type") != RESOURCE_TYPE:
            continue
        module = f"{resource['module']}." if resource.get("module") else ""
        base = f"{module}{RESOURCE_TYPE}.{resource.get('name')}"
        for instance in _dicts(resource.get("instances")):
            attributes = instance.get("attributes")
            yield (base + _index(instance.get("index_key")), attributes if isinstance(attributes, dict) else {},
                   bool(instance.get("deposed")))


def _show_instances(show: Mapping[str, Any]) -> Iterator[_Instance]:
    values = show.get("values")
    if values is None:  # `terraform show -json PLANFILE`: the state it was planned from
        values = (show.get("prior_state") or {}).get("values")
    yield from _module_instances((values or {}).get("root_module") or {})


def _module_instances(module: Mapping[str, Any]) -> Iterator[_Instance]:
    for resource in _dicts(module.get("resources")):
        if resource.get("mode") == "managed" and resource.get("type") == RESOURCE_TYPE:
            address = str(resource.get("address") or f"{RESOURCE_TYPE}.{resource.get('name')}")
            values = resource.get("values")
            yield address, values if isinstance(values, dict) else {}, bool(resource.get("deposed_key"))
    for child in _dicts(module.get("child_modules")):
        yield from _module_instances(child)


def _dicts(value: object) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _record(address: str, attributes: Mapping[str, Any]) -> TrunkRecord:
    raw = attributes.get("name") or attributes.get("id")
    if not isinstance(raw, str):
        raise TerraformStateError(f"{address}: no trunk name (attribute name or id) in the state")
    try:
        name = TrunkName.parse(raw)
    except ValueError:
        raise TerraformStateError(f"{address}: {raw!r} is not a trunk name "
                                  "projects/PROJECT/locations/LOCATION/sipTrunks/ID") from None
    for attribute, from_name in (("project", name.project), ("location", name.location)):
        stated = attributes.get(attribute)
        if stated and stated != from_name:
            raise TerraformStateError(f"{address}: {attribute} {stated!r} does not match its name {raw}")
    hostnames = attributes.get("expected_hostname")
    if not isinstance(hostnames, list) or not all(isinstance(host, str) for host in hostnames):
        raise TerraformStateError(f"{address}: expected_hostname is not a list of hostnames")
    display_name = attributes.get("display_name")
    trunk = SipTrunk(name=str(name), expected_hostname=hostnames,
                     display_name=display_name if isinstance(display_name, str) and display_name else None)
    policy = DeletionPolicy.ABANDON if attributes.get("deletion_policy") in _KEEPS_THE_TRUNK else None
    return TrunkRecord(trunk, f"terraform: {address}", policy)
