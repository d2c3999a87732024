"""Which Dialogflow locations exist: a typo in ``--location`` must not list an empty region.

Google answers a regional host that does not exist with a DNS failure after the client's retries,
and the emulator answers every regional host, so the commands check ``--location`` first.
"""

from __future__ import annotations

from siptrunk_operator.api.routing import check_location

from .errors import InventoryError

DOCUMENTED_LOCATIONS: tuple[str, ...] = (
    "global",
    "us-central1", "us-east1", "us-west1", "northamerica-northeast1",
    "europe-west1", "europe-west2", "europe-west3",
    "asia-northeast1", "asia-south1", "asia-southeast1", "australia-southeast1",
)
"""The regions Dialogflow's region pages list (ES and CX; Terraform's SipTrunk test runs in europe-west3)."""


def checked_location(location: str, *, any_location: bool = False) -> str:
    """``location`` if it is well formed and documented (or ``any_location``), else an InventoryError."""
    try:
        check_location(location)
    except ValueError:
        raise InventoryError(f"invalid location {location!r}: use global or a region such as europe-west3") from None
    if not any_location and location not in DOCUMENTED_LOCATIONS:
        raise InventoryError(f"unknown location {location!r}: Dialogflow serves {', '.join(DOCUMENTED_LOCATIONS)} "
                             "(pass --any-location if Google has added it)")
    return location
