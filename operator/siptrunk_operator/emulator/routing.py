"""Which API method a request is, and which location its Host header serves.

The real service picks the location by host: ``dialogflow.googleapis.com`` serves ``global`` and
``{location}-dialogflow.googleapis.com`` serves ``{location}``; a path location that does not match
is a 400. Hosts that are not Google's (``127.0.0.1``, ``localhost``, a sandbox name) act as the
global host, so a client that cannot set ``Host`` reaches ``global`` trunks.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from .errors import ApiError

GLOBAL = "global"
GLOBAL_HOST = "dialogflow.googleapis.com"

_TRUNKS_PATH = re.compile(
    r"^/(?P<version>v2|v2beta1)/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
    r"/sipTrunks(?:/(?P<trunk_id>[^/:]+))?$"
)
_REGIONAL_HOST = re.compile(r"^(?P<location>[a-z0-9-]+)-dialogflow(?:\.mtls)?\.googleapis\.com$")


class Method(enum.Enum):
    CREATE = "create"
    LIST = "list"
    GET = "get"
    UPDATE = "update"
    DELETE = "delete"

    @property
    def permission(self) -> str:
        return f"dialogflow.siptrunks.{self.value}"


_COLLECTION_METHODS = {"POST": Method.CREATE, "GET": Method.LIST}
_RESOURCE_METHODS = {"GET": Method.GET, "PATCH": Method.UPDATE, "DELETE": Method.DELETE}


@dataclass(frozen=True)
class Call:
    """One sipTrunks API call, resolved from the HTTP method and path."""

    method: Method
    version: str
    project: str
    location: str
    trunk_id: str | None

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"

    @property
    def name(self) -> str:
        return f"{self.parent}/sipTrunks/{self.trunk_id}"

    @property
    def resource(self) -> str:
        """What the permission is checked on: the parent for create/list, else the trunk."""
        return self.name if self.trunk_id is not None else self.parent


def resolve_call(http_method: str, path: str) -> Call | None:
    match = _TRUNKS_PATH.match(path)
    if match is None:
        return None
    trunk_id = match["trunk_id"]
    methods = _RESOURCE_METHODS if trunk_id is not None else _COLLECTION_METHODS
    method = methods.get(http_method.upper())
    if method is None:
        return None
    return Call(method, match["version"], match["project"], match["location"], trunk_id)


def served_location(host_header: str | None) -> str:
    """The location a Host header addresses (port ignored)."""
    host = (host_header or "").strip().lower()
    if host.startswith("["):  # IPv6 literal
        return GLOBAL
    host = host.rsplit(":", 1)[0]
    match = _REGIONAL_HOST.match(host)
    return match["location"] if match else GLOBAL


def host_for(location: str) -> str:
    return GLOBAL_HOST if location == GLOBAL else f"{location}-{GLOBAL_HOST}"


def check_location(host_header: str | None, location: str) -> None:
    """A 400 in Google's words when the path's location is not the one the host serves."""
    served = served_location(host_header)
    if served == location:
        return
    raise ApiError(
        400,
        f"Please switch to '{host_for(location)}' to access resources located in '{location}'.",
        reason="LOCATION_HOST_MISMATCH",
        metadata={"location": location, "host": host_for(served), "expectedHost": host_for(location)},
    )
