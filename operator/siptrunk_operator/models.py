"""Typed shapes shared by the operator, the API client and the emulator.

Wire names follow Google's JSON mapping (lowerCamelCase); the models also accept
snake_case keys and enum numbers, because the real API accepts both.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel


class WireEnum(enum.StrEnum):
    """A proto enum: serialised by name, parsed from a name or its number."""

    @classmethod
    def numbers(cls) -> dict[str, int]:
        raise NotImplementedError

    @classmethod
    def parse(cls, value: object) -> WireEnum:
        if isinstance(value, cls):
            return value
        if isinstance(value, bool):
            raise ValueError(f"invalid {cls.__name__}: {value!r}")
        if isinstance(value, int):
            for name, number in cls.numbers().items():
                if number == value:
                    return cls(name)
            raise ValueError(f"invalid {cls.__name__} number: {value}")
        if isinstance(value, str):
            if value in cls.numbers():
                return cls(value)
            if value.lstrip("-").isdigit():
                return cls.parse(int(value))
        raise ValueError(f"invalid {cls.__name__}: {value!r}")

    @property
    def number(self) -> int:
        return self.numbers()[self.value]


class ConnectionState(WireEnum):
    STATE_UNSPECIFIED = "STATE_UNSPECIFIED"
    CONNECTED = "CONNECTED"
    DISCONNECTED = "DISCONNECTED"
    AUTHENTICATION_FAILED = "AUTHENTICATION_FAILED"
    KEEPALIVE = "KEEPALIVE"

    @classmethod
    def numbers(cls) -> dict[str, int]:
        return {
            "STATE_UNSPECIFIED": 0,
            "CONNECTED": 1,
            "DISCONNECTED": 2,
            "AUTHENTICATION_FAILED": 3,
            "KEEPALIVE": 4,
        }


HEALTHY_CONNECTION_STATES = frozenset({ConnectionState.CONNECTED, ConnectionState.KEEPALIVE})


class CertificateState(WireEnum):
    CERTIFICATE_STATE_UNSPECIFIED = "CERTIFICATE_STATE_UNSPECIFIED"
    CERTIFICATE_VALID = "CERTIFICATE_VALID"
    CERTIFICATE_INVALID = "CERTIFICATE_INVALID"
    CERTIFICATE_EXPIRED = "CERTIFICATE_EXPIRED"
    CERTIFICATE_HOSTNAME_NOT_FOUND = "CERTIFICATE_HOSTNAME_NOT_FOUND"
    CERTIFICATE_UNAUTHENTICATED = "CERTIFICATE_UNAUTHENTICATED"
    CERTIFICATE_TRUST_STORE_NOT_FOUND = "CERTIFICATE_TRUST_STORE_NOT_FOUND"
    CERTIFICATE_HOSTNAME_INVALID_FORMAT = "CERTIFICATE_HOSTNAME_INVALID_FORMAT"
    CERTIFICATE_QUOTA_EXCEEDED = "CERTIFICATE_QUOTA_EXCEEDED"

    @classmethod
    def numbers(cls) -> dict[str, int]:
        return {name: number for number, name in enumerate(cls.__members__)}


CERTIFICATE_OK_STATES = frozenset(
    {CertificateState.CERTIFICATE_STATE_UNSPECIFIED, CertificateState.CERTIFICATE_VALID}
)


class CertFile(WireEnum):
    CERT_FILE_UNSPECIFIED = "CERT_FILE_UNSPECIFIED"
    EXTERNAL_PRIVATE_CA = "EXTERNAL_PRIVATE_CA"

    @classmethod
    def numbers(cls) -> dict[str, int]:
        return {"CERT_FILE_UNSPECIFIED": 0, "EXTERNAL_PRIVATE_CA": 5}


class ProbeStatus(WireEnum):
    PROBE_STATUS_UNSPECIFIED = "PROBE_STATUS_UNSPECIFIED"
    PROBE_STATUS_SUCCESS = "PROBE_STATUS_SUCCESS"
    PROBE_STATUS_FAILED = "PROBE_STATUS_FAILED"

    @classmethod
    def numbers(cls) -> dict[str, int]:
        return {name: number for number, name in enumerate(cls.__members__)}


StateField = Annotated[ConnectionState, BeforeValidator(ConnectionState.parse)]
CertificateStateField = Annotated[CertificateState, BeforeValidator(CertificateState.parse)]
CertFileField = Annotated[CertFile, BeforeValidator(CertFile.parse)]
ProbeStatusField = Annotated[ProbeStatus, BeforeValidator(ProbeStatus.parse)]


class WireModel(BaseModel):
    """Google JSON mapping: camelCase out, camelCase or snake_case in, unknown keys ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def to_wire(self, *, enums_as_int: bool = False) -> dict[str, Any]:
        data = self.model_dump(by_alias=True, exclude_none=True, mode="json")
        return _enums_to_int(self, data) if enums_as_int else data


def _enums_to_int(model: BaseModel, data: dict[str, Any]) -> dict[str, Any]:
    for field_name, info in type(model).model_fields.items():
        key = info.alias or field_name
        if key not in data:
            continue
        value = getattr(model, field_name)
        if isinstance(value, WireEnum):
            data[key] = value.number
        elif isinstance(value, BaseModel):
            data[key] = _enums_to_int(value, data[key])
        elif isinstance(value, list):
            data[key] = [
                _enums_to_int(item, wire) if isinstance(item, BaseModel) else wire
                for item, wire in zip(value, data[key], strict=True)
            ]
    return data


class ErrorDetails(WireModel):
    certificate_state: CertificateStateField | None = None
    error_message: str | None = None


class Connection(WireModel):
    connection_id: str | None = None
    state: StateField | None = None
    update_time: str | None = None
    error_details: ErrorDetails | None = None


class ProbeDetails(WireModel):
    options_latency: str | None = None
    probe_status: ProbeStatusField | None = None
    init_time: str | None = None


class SipHostname(WireModel):
    peer_hostname: str
    enabled_sip_ping: bool | None = None
    ping_interval: str | None = None
    peer_socket_address: str | None = None
    probe_details: ProbeDetails | None = None
    connection_state: StateField | None = None
    error_details: ErrorDetails | None = None


class SipTrunk(WireModel):
    """The API resource `projects.locations.sipTrunks`."""

    name: str | None = None
    expected_hostname: list[str] = Field(default_factory=list)
    connections: list[Connection] | None = None
    display_name: str | None = None
    peer_hostnames: list[SipHostname] | None = None
    google_root_cert_file: CertFileField | None = None


MUTABLE_FIELDS: tuple[str, ...] = ("displayName", "expectedHostname", "peerHostnames", "googleRootCertFile")
"""updateMask paths (camelCase) a client may change; `name` and `connections` are not among them."""

SEGMENT = re.compile(r"[A-Za-z0-9._:~-]{1,128}")
"""A project or trunk id (legacy project ids hold ``:`` and ``.``; trunk ids are URL-safe base64):
nothing that could leave its path segment (``/``, ``?``, ``#``, ``%``, whitespace). Match in full."""
LOCATION = re.compile(r"(?=.{1,52}\Z)[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
"""A region label (``global``, ``europe-west3``) short enough that ``{location}-dialogflow`` is a
DNS label (at most 63 characters) of the regional host. Match in full."""
_TRUNK_NAME = re.compile(r"projects/([^/]+)/locations/([^/]+)/sipTrunks/([^/]+)")


@dataclass(frozen=True, slots=True)
class TrunkName:
    """`projects/{project}/locations/{location}/sipTrunks/{trunk_id}`."""

    project: str
    location: str
    trunk_id: str

    @classmethod
    def parse(cls, name: str) -> TrunkName:
        """Each segment must match in full (no trailing newline, whitespace or escapes), and none
        may be ``.`` or ``..`` (an HTTP client would resolve them into another URL)."""
        match = _TRUNK_NAME.fullmatch(name)
        if match is None:
            raise ValueError(f"not a SipTrunk resource name: {name!r}")
        project, location, trunk_id = match.groups()
        valid = SEGMENT.fullmatch(project) and LOCATION.fullmatch(location) and SEGMENT.fullmatch(trunk_id)
        if not valid or {project, trunk_id} & {".", ".."}:
            raise ValueError(f"not a SipTrunk resource name: {name!r}")
        return cls(project, location, trunk_id)

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"

    def __str__(self) -> str:
        return f"{self.parent}/sipTrunks/{self.trunk_id}"


def parent_path(project: str, location: str) -> str:
    return f"projects/{project}/locations/{location}"
