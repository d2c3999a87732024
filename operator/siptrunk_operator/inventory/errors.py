"""One-line failures of the inventory commands: what went wrong and what to check, never a secret."""

from __future__ import annotations

from siptrunk_operator.api import (
    ApiError,
    ApiTransportError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from siptrunk_operator.api.routing import api_host
from siptrunk_operator.plan.errors import ApiAction

_WRONG_HOST = ("LOCATION_HOST_MISMATCH", "Please switch to")
"""How the API says that a location is served by another host (reason, and Google's message)."""


class InventoryError(Exception):
    """A failure the user can act on; printed as ``error: <message>`` and exit code 1."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))  # one line, whatever the source said


def listing_failure(err: ApiError, *, project: str, location: str, credentials: str) -> InventoryError:
    """The list call failed: name the permission, the credentials' source or the location to check.

    ``credentials`` says where the credentials came from (a path or "Application Default
    Credentials"); messages come from :class:`ApiError`, which redacts anything token-shaped.
    """
    parent = f"projects/{project}/locations/{location}"
    if isinstance(err, PermissionDenied):
        permission = err.permission or ApiAction.LIST.permission
        return InventoryError(f"permission denied: the credentials ({credentials}) lack {permission} on {parent} "
                              f"(grant roles/dialogflow.admin or {permission})")
    if isinstance(err, Unauthenticated):
        return InventoryError(f"bad credentials ({credentials}): {err.message}")
    if isinstance(err, ApiTransportError) and not err.request_sent:
        return InventoryError(f"cannot reach {api_host(location)}, the host serving location {location!r} "
                              f"({err.message}); check --location and the network")
    if isinstance(err, InvalidArgument) and any(mark in f"{err.reason} {err.message}" for mark in _WRONG_HOST):
        return InventoryError(f"wrong location {location!r}: {err.message}")
    if isinstance(err, NotFound):
        return InventoryError(f"{parent} not found: check --project and --location ({err.message})")
    return InventoryError(f"listing {parent} failed: {err}")
