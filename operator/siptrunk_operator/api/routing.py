"""Where a request goes (regional host, emulator) and the metadata headers Google's clients send."""

from __future__ import annotations

import platform
from dataclasses import dataclass
from urllib.parse import quote

import httpx

from siptrunk_operator import __version__
from siptrunk_operator.models import LOCATION, SEGMENT

GLOBAL_HOST = "dialogflow.googleapis.com"

USER_AGENT = f"siptrunk-operator/{__version__} httpx/{httpx.__version__}"
API_CLIENT = f"gl-python/{platform.python_version()} siptrunk-operator/{__version__} httpx/{httpx.__version__}"


def check_location(location: str) -> str:
    """A region label whose regional host is a valid hostname (see ``models.LOCATION``)."""
    if not LOCATION.fullmatch(location):
        raise ValueError(f"invalid location: {location!r}")
    return location


def check_segment(kind: str, value: str) -> str:
    """One path segment, matched in full (``$`` would let a trailing newline through); ``.`` and
    ``..`` are refused, as an HTTP client resolves them into another path."""
    if not SEGMENT.fullmatch(value) or value in (".", ".."):
        raise ValueError(f"invalid {kind}: {value!r}")
    return value


def encode_path(path: str) -> str:
    """Percent-encode each segment of a checked resource path. For the characters the checks let
    through this changes nothing (``:`` stays, as Google's clients send it); it stands guard should
    they ever let more through."""
    return "/".join(quote(segment, safe=":") for segment in path.split("/"))


def api_host(location: str) -> str:
    """``global`` uses the default host; any other location its regional host (a mismatch is a 400)."""
    location = check_location(location)
    return GLOBAL_HOST if location == "global" else f"{location}-{GLOBAL_HOST}"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """``host`` is the Google host the request is meant for; ``base_url`` where it is sent."""

    host: str
    base_url: str

    @property
    def host_header(self) -> dict[str, str]:
        """An explicit ``Host`` when the request is redirected (emulator), otherwise nothing."""
        return {} if self.base_url == f"https://{self.host}" else {"Host": self.host}


def endpoint_for(location: str, emulator_url: str | None = None) -> Endpoint:
    host = api_host(location)
    return Endpoint(host=host, base_url=emulator_url.rstrip("/") if emulator_url else f"https://{host}")


def request_params(**params: str) -> str:
    """``x-goog-request-params``: URL-encoded ``key=value`` pairs, ``/`` kept (as google-api-core does).

    Keys use ``__`` for ``.``: ``request_params(sip_trunk__name=...)`` gives ``sip_trunk.name=...``.
    """
    return "&".join(f"{key.replace('__', '.')}={quote(value, safe='/')}" for key, value in params.items())


def base_headers(quota_project: str | None) -> dict[str, str]:
    headers = {
        "user-agent": USER_AGENT,
        "x-goog-api-client": API_CLIENT,
        "accept": "application/json",
    }
    if quota_project:
        headers["x-goog-user-project"] = quota_project
    return headers
