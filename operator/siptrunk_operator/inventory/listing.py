"""Every trunk of one (project, location), through the operator's client: its credentials loading,
retries, rate limit and typed errors."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from siptrunk_operator.api import ApiError, ClientSettings, SipTrunksClient
from siptrunk_operator.models import SipTrunk

from .errors import InventoryError, listing_failure
from .locations import checked_location
from .progress import Progress

MAX_PAGE_SIZE = 1000
"""The API's maximum: 1,000 trunks cost one call."""


@dataclass(frozen=True)
class ApiTarget:
    project: str
    location: str
    credentials: Path | None = None
    """A credentials file (``--credentials``); None: ``GOOGLE_APPLICATION_CREDENTIALS``, else ADC."""
    any_location: bool = False


def _settings() -> ClientSettings:
    try:
        return ClientSettings.from_env()
    except ValidationError as err:
        problem = err.errors()[0]
        raise InventoryError(f"invalid client setting {'.'.join(map(str, problem['loc']))}: {problem['msg']}") from None


def credentials_source(target: ApiTarget, settings: ClientSettings) -> str:
    """Where the credentials come from, for error messages (a path, never its content)."""
    if target.credentials is not None:
        return f"--credentials {target.credentials}"
    if settings.credentials_file is not None:
        return f"GOOGLE_APPLICATION_CREDENTIALS={settings.credentials_file}"
    return "Application Default Credentials"


async def _list(client: SipTrunksClient, target: ApiTarget, progress: Progress) -> list[SipTrunk]:
    label = f"listing projects/{target.project}/locations/{target.location}"
    trunks: list[SipTrunk] = []
    async for page, _next in client.list_pages(target.project, target.location, page_size=MAX_PAGE_SIZE):
        trunks.extend(page)
        progress.update(label, len(trunks))
    return trunks


async def _fetch(target: ApiTarget, settings: ClientSettings, progress: Progress) -> list[SipTrunk]:
    async with SipTrunksClient(settings, credentials=target.credentials) as client:
        return await _list(client, target, progress)


def fetch_trunks(target: ApiTarget, progress: Progress) -> list[SipTrunk]:
    """All pages of the listing, or an InventoryError naming what to fix."""
    checked_location(target.location, any_location=target.any_location)
    settings = _settings()
    try:
        return asyncio.run(_fetch(target, settings, progress))
    except ApiError as err:
        raise listing_failure(err, project=target.project, location=target.location,
                              credentials=credentials_source(target, settings)) from None
    except ValueError as err:  # the client refuses a project id that could leave the URL path
        raise InventoryError(f"{err}: check --project") from None
    finally:
        progress.finish()
