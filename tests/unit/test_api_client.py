# mypy: disable-error-code="no-untyped-call"
"""What the client puts on the wire: hosts, paths, headers, bodies, pagination; and its settings."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from google.oauth2.credentials import Credentials

from siptrunk_operator import __version__
from siptrunk_operator.api import (
    ApiTransportError,
    ClientSettings,
    InvalidArgument,
    InvalidRequest,
    SipTrunksClient,
)
from siptrunk_operator.api import client as client_module
from siptrunk_operator.api.routing import api_host, check_segment, encode_path, endpoint_for, request_params
from siptrunk_operator.models import CertFile, Connection, ConnectionState, SipTrunk, TrunkName
from siptrunk_operator.plan.errors import classify
from siptrunk_operator.reasons import Reason
from siptrunk_operator.settings import OperatorSettings

pytestmark = pytest.mark.anyio
TOKEN = "ya29.unit-test-token"
NAME = "projects/my-proj/locations/europe-west3/sipTrunks/JxN1ndLCR9OJvgrDlc32_Q"


class Recorder:
    def __init__(self, respond: Callable[[httpx.Request], Any] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.respond = respond or (lambda request: {"name": NAME, "expectedHostname": ["a.example.com"]})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json=self.respond(request))

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


def make_client(recorder: Recorder, **settings: Any) -> SipTrunksClient:
    return SipTrunksClient(
        ClientSettings(requests_per_minute=0, **settings),
        credentials=Credentials(token=TOKEN),
        transport=httpx.MockTransport(recorder),
    )


# -- hosts and URLs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "host"),
    [("global", "dialogflow.googleapis.com"), ("europe-west3", "europe-west3-dialogflow.googleapis.com")],
)
def test_api_host(location: str, host: str) -> None:
    assert api_host(location) == host
    assert endpoint_for(location).base_url == f"https://{host}"
    assert endpoint_for(location).host_header == {}


def test_emulator_endpoint_keeps_real_host() -> None:
    endpoint = endpoint_for("europe-west1", "http://127.0.0.1:8085/")
    assert endpoint.base_url == "http://127.0.0.1:8085"
    assert endpoint.host_header == {"Host": "europe-west1-dialogflow.googleapis.com"}


@pytest.mark.parametrize("location", ["", "Global", "evil.com/x", "us central", "a" * 80, "global\n", "europe-west3-",
                                      "eu--west3", "3eu", "a" * 53])
def test_bad_locations_rejected(location: str) -> None:
    with pytest.raises(ValueError, match="location"):
        api_host(location)


def test_the_longest_location_still_makes_a_valid_regional_host() -> None:
    label = api_host("a" * 52).split(".")[0]
    assert len(label) == 63  # the most a DNS label may hold


@pytest.mark.parametrize(
    ("settings", "location", "url", "host"),
    [
        ({}, "global", "https://dialogflow.googleapis.com/v2/projects/p/locations/global/sipTrunks", None),
        (
            {"api_version": "v2beta1"},
            "europe-west3",
            "https://europe-west3-dialogflow.googleapis.com/v2beta1/projects/p/locations/europe-west3/sipTrunks",
            None,
        ),
        (
            {"emulator_url": "http://127.0.0.1:8085"},
            "europe-west3",
            "http://127.0.0.1:8085/v2/projects/p/locations/europe-west3/sipTrunks",
            "europe-west3-dialogflow.googleapis.com",
        ),
        (
            {"emulator_url": "http://127.0.0.1:8085"},
            "global",
            "http://127.0.0.1:8085/v2/projects/p/locations/global/sipTrunks",
            "dialogflow.googleapis.com",
        ),
    ],
)
async def test_url_and_host(settings: dict[str, Any], location: str, url: str, host: str | None) -> None:
    recorder = Recorder(lambda _: {})
    async with make_client(recorder, **settings) as client:
        assert [t async for t in client.list_trunks("p", location)] == []
    request = recorder.last
    assert str(request.url.copy_with(query=None)) == url
    assert request.headers["host"] == (host or request.url.host)


async def test_one_pool_per_host() -> None:
    recorder = Recorder()
    async with make_client(recorder) as client:
        await client.get("projects/p/locations/global/sipTrunks/a")
        await client.get("projects/p/locations/global/sipTrunks/b")
        await client.get("projects/p/locations/europe-west3/sipTrunks/c")
        assert sorted(client._pools) == [
            "dialogflow.googleapis.com",
            "europe-west3-dialogflow.googleapis.com",
        ]
    assert client._pools == {}


async def test_explicit_host_header_really_goes_on_the_wire() -> None:
    """httpx must send our Host header, not one derived from the emulator URL."""
    heads: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        body = b'{"sipTrunks": [], "nextPageToken": ""}'
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body))
        writer.write(body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        settings = ClientSettings(emulator_url=f"http://127.0.0.1:{port}", requests_per_minute=0)
        async with SipTrunksClient(settings, credentials=Credentials(token=TOKEN)) as client:
            assert [t async for t in client.list_trunks("p", "europe-west3")] == []
    finally:
        server.close()
        await server.wait_closed()
    lines = heads[0].decode().split("\r\n")
    assert lines[0].startswith("GET /v2/projects/p/locations/europe-west3/sipTrunks?")
    assert [line for line in lines if line.lower().startswith("host:")] == [
        "Host: europe-west3-dialogflow.googleapis.com"
    ]


# -- headers and bodies ---------------------------------------------------------------------------


def test_request_params_encoding() -> None:
    assert request_params(parent="projects/p/locations/l") == "parent=projects/p/locations/l"
    assert request_params(sip_trunk__name="projects/p x/a&b") == "sip_trunk.name=projects/p%20x/a%26b"


@pytest.mark.parametrize("quota_project", [None, "billing-proj"])
async def test_common_headers(quota_project: str | None) -> None:
    recorder = Recorder()
    async with make_client(recorder, quota_project=quota_project) as client:
        await client.get(NAME)
    headers = recorder.last.headers
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["x-goog-request-params"] == f"name={NAME}"
    assert f"siptrunk-operator/{__version__}" in headers["user-agent"]
    assert f"siptrunk-operator/{__version__}" in headers["x-goog-api-client"]
    assert headers["x-goog-api-client"].startswith("gl-python/")
    assert headers.get("x-goog-user-project") == quota_project
    assert "content-type" not in headers  # no body on GET


async def test_settings_quota_project_overrides_the_credentials_one() -> None:
    recorder = Recorder()
    credentials = Credentials(token=TOKEN, quota_project_id="from-adc")
    settings = ClientSettings(requests_per_minute=0, quota_project="from-settings")
    async with SipTrunksClient(settings, credentials=credentials, transport=httpx.MockTransport(recorder)) as client:
        await client.get(NAME)
    assert recorder.last.headers["x-goog-user-project"] == "from-settings"


async def test_create_request() -> None:
    recorder = Recorder()
    trunk = SipTrunk(
        name="projects/x/locations/y/sipTrunks/ignored",
        expected_hostname=["a.example.com"],
        display_name="Main SBC",
        google_root_cert_file=CertFile.EXTERNAL_PRIVATE_CA,
        connections=[Connection(connection_id="c1", state=ConnectionState.CONNECTED)],
    )
    async with make_client(recorder) as client:
        created = await client.create("my-proj", "europe-west3", trunk)
    request = recorder.last
    assert created.name == NAME
    assert request.method == "POST"
    assert request.url.path == "/v2/projects/my-proj/locations/europe-west3/sipTrunks"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-goog-request-params"] == "parent=projects/my-proj/locations/europe-west3"
    assert json.loads(request.content) == {
        "expectedHostname": ["a.example.com"],
        "displayName": "Main SBC",
        "googleRootCertFile": 5,
    }
    assert request.url.params["$alt"] == "json;enum-encoding=int"


async def test_patch_request() -> None:
    recorder = Recorder()
    trunk = SipTrunk(name=NAME, expected_hostname=["b.example.com"], display_name="new")
    async with make_client(recorder) as client:
        await client.patch(trunk, ["display_name", "expectedHostname"])
    request = recorder.last
    assert request.method == "PATCH"
    assert request.url.path == f"/v2/{NAME}"
    assert b"updateMask=displayName%2CexpectedHostname" in request.url.query
    assert unquote(request.url.params["updateMask"]) == "displayName,expectedHostname"
    assert request.headers["x-goog-request-params"] == f"sip_trunk.name={NAME}"
    assert json.loads(request.content) == {
        "name": NAME,
        "expectedHostname": ["b.example.com"],
        "displayName": "new",
    }


@pytest.mark.parametrize("mask", [[], ["name"], ["connections"], ["bogus"]])
async def test_patch_rejects_bad_masks(mask: list[str]) -> None:
    recorder = Recorder()
    async with make_client(recorder) as client:
        with pytest.raises(ValueError, match="update_mask"):
            await client.patch(SipTrunk(name=NAME), mask)
        with pytest.raises(TypeError):
            await client.patch(SipTrunk(name=NAME), "displayName")
        with pytest.raises(ValueError, match="name"):
            await client.patch(SipTrunk(), ["displayName"])
    assert recorder.requests == []


async def test_delete_and_get_requests() -> None:
    recorder = Recorder(lambda request: {} if request.method == "DELETE" else {"name": NAME})
    async with make_client(recorder) as client:
        await client.delete(NAME)
        assert recorder.last.method == "DELETE"
        assert recorder.last.url.path == f"/v2/{NAME}"
        assert (await client.get(NAME)).name == NAME
        assert recorder.last.method == "GET"


async def test_delete_tolerates_an_empty_body() -> None:
    async with SipTrunksClient(
        ClientSettings(requests_per_minute=0),
        credentials=Credentials(token=TOKEN),
        transport=httpx.MockTransport(lambda _: httpx.Response(200)),
    ) as client:
        await client.delete(NAME)


BAD_NAMES = [
    pytest.param("projects/p/locations/global/sipTrunks/a?b", id="query"),
    pytest.param("projects/p/locations/global/sipTrunks/a#b", id="fragment"),
    pytest.param("projects/p/locations/global/sipTrunks/a%2F..", id="percent-escape"),
    pytest.param("projects/p/locations/global/sipTrunks/%2e%2e", id="escaped-dot-dot"),
    pytest.param("projects/p/locations/global/sipTrunks/..", id="dot-dot-id"),
    pytest.param("projects/p/locations/global/sipTrunks/.", id="dot-id"),
    pytest.param("projects/../locations/global/sipTrunks/a", id="dot-dot-project"),
    pytest.param("projects/p/locations/global/sipTrunks/a\n", id="trailing-newline"),
    pytest.param("projects/p\n/locations/global/sipTrunks/a", id="newline-in-project"),
    pytest.param("projects/p/locations/global\n/sipTrunks/a", id="newline-in-location"),
    pytest.param("projects/p/locations/global/sipTrunks/a b", id="space"),
    pytest.param("projects/p/locations/global/sipTrunks/a/b", id="extra-segment"),
    pytest.param("projects/p/locations/evil.com/sipTrunks/a", id="host-in-location"),
    pytest.param("projects/p/locations/europe-west3-/sipTrunks/a", id="trailing-hyphen-location"),
    pytest.param("projects/p/locations/" + "a" * 53 + "/sipTrunks/a", id="location-too-long-for-its-host"),
    pytest.param("projects/p/locations/global/sipTrunks/" + "a" * 129, id="id-too-long"),
    pytest.param("projects/p/locations/global/sipTrunks/\u00e9", id="non-ascii"),
    pytest.param("sipTrunks/a", id="not-a-name"),
]


@pytest.mark.parametrize("name", BAD_NAMES)
@pytest.mark.parametrize("method", ["get", "patch", "delete"])
async def test_names_that_would_leave_their_segment_are_refused_before_sending(name: str, method: str) -> None:
    """Each segment must match in full: the client raises InvalidRequest (a 400-like ApiError the
    planner reports as InvalidSpec), never a bare ValueError, and sends nothing."""
    recorder = Recorder()
    async with make_client(recorder) as client:
        calls = {"get": lambda: client.get(name), "delete": lambda: client.delete(name),
                 "patch": lambda: client.patch(SipTrunk(name=name, display_name="x"), ["displayName"])}
        with pytest.raises(InvalidRequest, match=r"invalid|not a SipTrunk") as info:
            await calls[method]()
    assert recorder.requests == []
    assert isinstance(info.value, InvalidArgument)
    assert info.value.__context__ is None and info.value.__cause__ is None


@pytest.mark.parametrize(("project", "location"), [("p\n", "global"), ("..", "global"), ("p", "global\n"),
                                                   ("p/../q", "global"), ("p", "Global"), ("p", "a-")])
async def test_parents_that_would_leave_their_segment_are_refused(project: str, location: str) -> None:
    recorder = Recorder()
    async with make_client(recorder) as client:
        with pytest.raises(InvalidRequest):
            await client.create(project, location, SipTrunk(expected_hostname=["a.example.com"]))
        with pytest.raises(InvalidRequest):
            await anext(client.list_pages(project, location))
    assert recorder.requests == []


@pytest.mark.parametrize(
    "name",
    ["projects/p/locations/global/sipTrunks/JxN1ndLCR9OJvgrDlc32_Q", "projects/example.com:proj/locations/"
     "northamerica-northeast2/sipTrunks/a-b_c.d~e", "projects/p/locations/global/sipTrunks/..."],
)
def test_valid_names_parse_and_their_segments_are_percent_encoded(name: str) -> None:
    trunk = TrunkName.parse(name)
    assert str(trunk) == name
    assert encode_path(name) == name  # nothing the checks let through needs escaping (":" stays)
    assert check_segment("trunk id", trunk.trunk_id) == trunk.trunk_id


def test_encode_path_escapes_each_segment() -> None:
    assert encode_path("projects/a b/locations/x?y/sipTrunks/%2F#") == \
        "projects/a%20b/locations/x%3Fy/sipTrunks/%252F%23"


@pytest.mark.parametrize("value", ["a\n", ".", "..", "a/b", "", "a%2F", "a b"])
def test_check_segment_matches_in_full(value: str) -> None:
    with pytest.raises(ValueError, match="invalid"):
        check_segment("trunk id", value)


async def test_a_url_httpx_refuses_is_an_invalid_request_not_an_escape(monkeypatch: pytest.MonkeyPatch) -> None:
    """Were a check ever to let a newline through (and the encoding not escape it), httpx's
    InvalidURL still becomes InvalidRequest: reported as InvalidSpec, not retried, not a crash."""
    monkeypatch.setattr(client_module, "_checked_name", lambda name: TrunkName("p", "global", "a\n"))
    monkeypatch.setattr(client_module, "encode_path", lambda path: path)
    recorder = Recorder()
    async with make_client(recorder) as client:
        with pytest.raises(InvalidRequest, match="not a valid URL") as info:
            await client.get("ignored")
    assert recorder.requests == []
    assert info.value.__context__ is None  # httpx's exception (and its request) is not kept
    assert info.value.attempts == 1


def test_the_planner_reports_an_invalid_request_as_invalid_spec() -> None:
    err = InvalidRequest("invalid trunk id '..'")
    err.action = "delete"
    verdict = classify(err, settings=OperatorSettings())
    assert verdict.reason == Reason.INVALID_SPEC
    assert verdict.message == "The delete was not sent to the API: invalid trunk id '..'"


async def test_transport_errors_keep_neither_the_request_nor_its_authorization() -> None:
    """httpx's exception carries the request (Authorization header and all): it must not be the
    ApiError's __cause__ or __context__, where a logger printing the chain would find it."""
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("boom", request=request)

    async with SipTrunksClient(ClientSettings(requests_per_minute=0, max_attempts=1),
                               credentials=Credentials(token=TOKEN), transport=httpx.MockTransport(refuse)) as client:
        with pytest.raises(ApiTransportError) as info:
            await client.get(NAME)
    chained: list[BaseException] = []
    err: BaseException | None = info.value
    while err is not None:
        chained.append(err)
        err = err.__cause__ or err.__context__
    assert chained == [info.value]
    assert TOKEN not in repr(vars(info.value))


async def test_list_pages_and_trunks() -> None:
    pages = {
        "": {"sipTrunks": [{"name": f"{NAME}1"}, {"name": f"{NAME}2"}], "nextPageToken": "t1"},
        "t1": {"sipTrunks": [{"name": f"{NAME}3"}], "nextPageToken": "t2"},
        "t2": {"nextPageToken": ""},
    }
    recorder = Recorder(lambda request: pages[request.url.params.get("pageToken", "")])
    async with make_client(recorder) as client:
        got = [(len(trunks), token) async for trunks, token in client.list_pages("p", "global", page_size=2)]
        names = [t.name async for t in client.list_trunks("p", "global", page_size=2)]
    assert got == [(2, "t1"), (1, "t2"), (0, "")]
    assert names == [f"{NAME}1", f"{NAME}2", f"{NAME}3"]
    params = [dict(r.url.params) for r in recorder.requests[:3]]
    assert [p.get("pageToken") for p in params] == [None, "t1", "t2"]
    assert {p["pageSize"] for p in params} == {"2"}
    assert recorder.last.headers["x-goog-request-params"] == "parent=projects/p/locations/global"


async def test_list_stops_on_a_repeated_page_token() -> None:
    recorder = Recorder(lambda _: {"sipTrunks": [], "nextPageToken": "same"})
    async with make_client(recorder) as client:
        with pytest.raises(Exception, match="same page token"):
            async for _ in client.list_pages("p", "global", page_token="same"):
                pass


async def test_list_rejects_negative_page_size() -> None:
    async with make_client(Recorder()) as client:
        with pytest.raises(ValueError, match="page_size"):
            await anext(client.list_pages("p", "global", page_size=-1))


async def test_closed_client_refuses_calls() -> None:
    client = make_client(Recorder())
    await client.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await client.get(NAME)


# -- settings -------------------------------------------------------------------------------------


def test_settings_defaults() -> None:
    settings = ClientSettings()
    assert settings.api_version == "v2"
    assert settings.emulator_url is None
    assert (settings.timeout_seconds, settings.deadline_seconds) == (30.0, 120.0)
    assert (settings.initial_backoff, settings.max_backoff, settings.max_server_error_retries) == (
        1.0,
        32.0,
        2,
    )
    assert settings.requests_per_minute == 60.0


def test_settings_from_env(tmp_path: Path) -> None:
    key = tmp_path / "key.json"
    env = {
        "SIPTRUNK_API_VERSION": "v2beta1",
        "SIPTRUNK_API_EMULATOR_URL": "http://127.0.0.1:8085/",
        "GOOGLE_APPLICATION_CREDENTIALS": str(key),
        "SIPTRUNK_QUOTA_PROJECT": "billing",
        "SIPTRUNK_REQUESTS_PER_MINUTE": "30",
        "UNRELATED": "x",
    }
    settings = ClientSettings.from_env(env, timeout_seconds=5)
    assert settings.api_version == "v2beta1"
    assert settings.emulator_url == "http://127.0.0.1:8085"
    assert settings.credentials_file == key
    assert settings.quota_project == "billing"
    assert settings.requests_per_minute == 30.0
    assert settings.timeout_seconds == 5
    assert ClientSettings.from_env({}) == ClientSettings()


@pytest.mark.parametrize(
    "values",
    [{"api_version": "v3"}, {"emulator_url": "127.0.0.1:8085"}, {"timeout_seconds": 0}, {"surprise": 1}],
)
def test_settings_validation(values: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - pydantic.ValidationError
        ClientSettings(**values)


def test_settings_never_show_inline_credentials() -> None:
    secret = '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----SECRETKEY"}'
    settings = ClientSettings(credentials_json=secret)
    for rendered in (repr(settings), str(settings), f"{settings}"):
        assert "SECRETKEY" not in rendered
        assert "credentials_json" not in rendered


def test_the_page_decoder_reuses_unchanged_trunks_and_decodes_changed_ones() -> None:
    from siptrunk_operator.api import PageDecoder

    decoder = PageDecoder()
    a = {"name": "projects/p/locations/global/sipTrunks/a", "expectedHostname": ["a.b"]}
    b = {"name": "projects/p/locations/global/sipTrunks/b", "expectedHostname": ["b.b"]}
    first, token = decoder({"sipTrunks": [a, b], "nextPageToken": "n"})
    again, _ = decoder({"sipTrunks": [dict(a), {**b, "displayName": "changed"}]})
    assert token == "n" and again[0] is first[0] and again[1] is not first[1]
    assert again[1].display_name == "changed"
    decoder.retain({str(b["name"])})
    third, _ = decoder({"sipTrunks": [dict(a)]})
    assert third[0] is not first[0] and third[0] == first[0]
