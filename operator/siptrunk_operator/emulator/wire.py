"""Google's JSON mapping on the way in and out: key styles, enums, masks, timestamps.

Input follows the real API: camelCase or snake_case keys, enum names or numbers, output-only
fields silently dropped, unknown field names rejected (Google answers "Cannot find field").
Output is camelCase with enum names, or enum numbers under ``$alt=json;enum-encoding=int``;
like proto3 JSON, fields holding their default value (``""``, ``[]``, ``*_UNSPECIFIED``) are omitted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel

from siptrunk_operator.models import MUTABLE_FIELDS, CertFile, SipHostname, SipTrunk

from .errors import ApiError, invalid_argument

OUTPUT_ONLY_FIELDS: frozenset[str] = frozenset({"name", "connections"})
"""Trunk fields a client cannot set: ignored in bodies and in update masks."""

_SIP_HOSTNAME_INPUT = frozenset({"peerHostname"})


def rfc3339(timestamp: float) -> str:
    """A Z-normalised RFC 3339 timestamp with 0 or 3 fractional digits, as Google emits."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    if moment.microsecond // 1000 == 0:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def wants_int_enums(query: Mapping[str, str]) -> bool:
    """True for ``$alt=json;enum-encoding=int`` (what Google's REST clients send)."""
    alt = query.get("$alt") or query.get("alt") or ""
    return "enum-encoding=int" in alt.replace(" ", "").split(";")


def decode_json_object(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object; an empty body is ``{}``."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise invalid_argument(f"Invalid JSON payload received. {exc}", reason="INVALID_JSON_PAYLOAD") from None
    if not isinstance(data, dict):
        raise invalid_argument("Invalid JSON payload received. Expected an object.", reason="INVALID_JSON_PAYLOAD")
    return data


def _camel_keys(model: type[BaseModel]) -> dict[str, str]:
    """Every accepted key (camelCase and snake_case) of a wire model, mapped to its camelCase."""
    keys: dict[str, str] = {}
    for name, info in model.model_fields.items():
        camel = info.alias or name
        keys[name] = keys[camel] = camel
    return keys


_TRUNK_KEYS = _camel_keys(SipTrunk)
_HOSTNAME_KEYS = _camel_keys(SipHostname)


def _unknown_field(key: str, where: str) -> ApiError:
    return invalid_argument(
        f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}': Cannot find field.",
        reason="INVALID_JSON_PAYLOAD",
    )


def _input_hostname(item: object, where: str) -> object:
    if not isinstance(item, dict):
        return item
    kept = {}
    for key, value in item.items():
        if key not in _HOSTNAME_KEYS:
            raise _unknown_field(key, where)
        if _HOSTNAME_KEYS[key] in _SIP_HOSTNAME_INPUT:
            kept[key] = value
    return kept


def parse_trunk(data: Mapping[str, Any], *, where: str = "sip_trunk") -> tuple[SipTrunk, set[str]]:
    """Parse a trunk body: the input fields, and which mutable fields (camelCase) are populated."""
    kept: dict[str, Any] = {}
    for key, value in data.items():
        if key not in _TRUNK_KEYS:
            raise _unknown_field(key, where)
        if _TRUNK_KEYS[key] in OUTPUT_ONLY_FIELDS or value is None:  # JSON null: the default value
            continue
        if _TRUNK_KEYS[key] == "peerHostnames" and isinstance(value, list):
            value = [_input_hostname(item, f"{where}.peer_hostnames[{i}]") for i, item in enumerate(value)]
        kept[key] = value
    try:
        trunk = SipTrunk.model_validate(kept)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join([where, *(str(part) for part in first["loc"])])
        raise invalid_argument(
            f"Invalid value at '{field}': {first['msg']}", field=field, reason="INVALID_JSON_PAYLOAD"
        ) from None
    trunk = canonical(trunk)
    populated = {field for field in MUTABLE_FIELDS if _is_populated(trunk, field)}
    return trunk, populated


def canonical(trunk: SipTrunk) -> SipTrunk:
    """Replace proto3 default values with ``None`` so they are omitted on output."""
    return trunk.model_copy(
        update={
            "display_name": trunk.display_name or None,
            "peer_hostnames": trunk.peer_hostnames or None,
            "google_root_cert_file": (
                None
                if trunk.google_root_cert_file in (None, CertFile.CERT_FILE_UNSPECIFIED)
                else trunk.google_root_cert_file
            ),
        }
    )


_ATTRIBUTE = {info.alias or name: name for name, info in SipTrunk.model_fields.items()}
"""camelCase wire name -> SipTrunk attribute."""


def _is_populated(trunk: SipTrunk, camel_field: str) -> bool:
    return getattr(trunk, _ATTRIBUTE[camel_field]) not in (None, "", [])


def parse_update_mask(raw: str | None) -> set[str] | None:
    """The mutable camelCase fields an ``updateMask`` names; ``None`` when there is no mask.

    ``*`` means every mutable field; output-only paths are ignored; anything else is a 400.
    """
    if raw is None:
        return None
    paths: set[str] = set()
    for part in raw.split(","):
        path = part.strip()
        if not path:
            continue
        if path == "*":
            paths.update(MUTABLE_FIELDS)
            continue
        camel = to_camel(path) if "_" in path else path
        if camel in OUTPUT_ONLY_FIELDS:
            continue
        if camel not in MUTABLE_FIELDS:
            raise invalid_argument(
                f"Invalid update mask path '{path}': not a mutable field of SipTrunk "
                f"(allowed: {', '.join(MUTABLE_FIELDS)}).",
                reason="INVALID_UPDATE_MASK",
                field="update_mask",
            )
        paths.add(camel)
    return paths


def apply_update(current: SipTrunk, patch: SipTrunk, fields: set[str]) -> SipTrunk:
    """``current`` with ``fields`` (camelCase) copied from ``patch``; absent values clear a field."""
    update = {_ATTRIBUTE[field]: getattr(patch, _ATTRIBUTE[field]) for field in fields}
    return canonical(current.model_copy(update=update))


def validate_trunk(trunk: SipTrunk, *, require_peer_hostnames: bool) -> None:
    """The REQUIRED field checks of the real API (``peerHostnames`` only when configured)."""
    if not trunk.expected_hostname:
        raise invalid_argument(
            "Field 'sip_trunk.expected_hostname' is required: give at least one expected hostname.",
            field="sip_trunk.expected_hostname",
        )
    for index, hostname in enumerate(trunk.expected_hostname):
        if not hostname.strip():
            field = f"sip_trunk.expected_hostname[{index}]"
            raise invalid_argument(f"Field '{field}' must not be empty.", field=field)
    if require_peer_hostnames and not trunk.peer_hostnames:
        raise invalid_argument(
            "Field 'sip_trunk.peer_hostnames' is required: give at least one peer hostname.",
            field="sip_trunk.peer_hostnames",
        )
    for index, peer in enumerate(trunk.peer_hostnames or []):
        if not peer.peer_hostname.strip():
            field = f"sip_trunk.peer_hostnames[{index}].peer_hostname"
            raise invalid_argument(f"Field '{field}' must not be empty.", field=field)
