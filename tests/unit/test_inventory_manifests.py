"""Manifests for existing trunks: object names, field order, policies, and no drift once applied."""

from __future__ import annotations

import hashlib
import re

import pytest
import yaml

from siptrunk_operator.inventory.errors import InventoryError
from siptrunk_operator.inventory.manifests import (
    NAME_MAX,
    ManifestOptions,
    TrunkRecord,
    base_name,
    build_manifests,
    slug,
    to_yaml,
    to_yaml_stream,
    unique_names,
)
from siptrunk_operator.models import SipTrunk
from siptrunk_operator.plan.drift import update_mask
from siptrunk_operator.spec import DeletionPolicy, SipTrunkSpec

PARENT = "projects/my-project/locations/global"
RFC1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def record(trunk_id: str = "JxN1ndLCR9OJvgrDlc32_Q", display_name: str | None = "Carrier A",
           **fields: object) -> TrunkRecord:
    body: dict[str, object] = {"name": f"{PARENT}/sipTrunks/{trunk_id}", "expectedHostname": ["sbc.example.com"],
                               "displayName": display_name, **fields}
    trunk = SipTrunk.model_validate(body)
    return TrunkRecord(trunk, str(trunk.name))


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:6]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Carrier A (primary SBCs)", "carrier-a-primary-sbcs"),
        ("carrier-a", "carrier-a"),
        ("Zürich Ü", "zurich-u"),
        ("Ærøskøbing Å", "rskbing-a"),  # no decomposition for Æ, ø: dropped; Å is A + ring
        ("ﬁle Ⅻ", "file-xii"),  # compatibility forms fold to ASCII
        ("émoji 🎉 trunk", "emoji-trunk"),
        ("日本のトランク", ""),
        ("", ""),
        ("--//--", ""),
        ("__a__b__", "a-b"),
        ("x" * 100, "x" * NAME_MAX),
        ("x" * 62 + " y", "x" * 62),  # truncation never leaves a trailing dash
        ("9 Lives", "9-lives"),
    ],
)
def test_slug_is_an_rfc1123_label(text: str, expected: str) -> None:
    assert slug(text) == expected
    assert expected == "" or RFC1123_LABEL.match(expected)


@pytest.mark.parametrize(
    ("display_name", "trunk_id", "expected"),
    [
        ("Carrier A", "abc", "carrier-a"),
        (None, "JxN1ndLCR9OJvgrDlc32_Q", "jxn1ndlcr9ojvgrdlc32-q"),
        ("", "JxN1ndLCR9OJvgrDlc32_Q", "jxn1ndlcr9ojvgrdlc32-q"),
        ("日本", "Abc", "abc"),
        ("日本", "___", "trunk"),
    ],
)
def test_base_name_falls_back_to_the_trunk_id(display_name: str | None, trunk_id: str, expected: str) -> None:
    assert base_name(record(trunk_id, display_name)) == expected


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        ([("a", "k1")], ["a"]),
        ([("a", "k1"), ("b", "k2")], ["a", "b"]),
        ([("a", "k1"), ("a", "k2")], [f"a-{digest('k1')}", f"a-{digest('k2')}"]),
        # another trunk's own base looks like a suffixed name: it keeps it, the collision goes on
        ([("a", "k1"), ("a", "k2"), (f"a-{digest('k1')}", "k3")],
         [f"a-{digest('k1')}1", f"a-{digest('k2')}", f"a-{digest('k1')}"]),
        ([("x" * 63, "k1"), ("x" * 63, "k2")], [f"{'x' * 56}-{digest('k1')}", f"{'x' * 56}-{digest('k2')}"]),
        ([("a" * 55 + "-b" * 4, "k1"), ("a" * 55 + "-b" * 4, "k2")],
         [f"{'a' * 55}-{digest('k1')}", f"{'a' * 55}-{digest('k2')}"]),  # no "--" where it was cut
    ],
)
def test_unique_names(candidates: list[tuple[str, str]], expected: list[str]) -> None:
    names = unique_names(candidates)
    assert names == expected
    assert len(set(names)) == len(names)
    assert all(RFC1123_LABEL.match(name) for name in names)


def test_unique_names_do_not_depend_on_the_listing_order() -> None:
    candidates = [("carrier", f"k{i}") for i in range(50)] + [("other", "z")]
    forward = dict(zip((key for _, key in candidates), unique_names(candidates), strict=True))
    backward = dict(zip((key for _, key in reversed(candidates)), unique_names(candidates[::-1]), strict=True))
    assert forward == backward
    assert forward["z"] == "other"


def test_many_collisions_stay_unique() -> None:
    names = unique_names([("carrier", f"projects/p/locations/global/sipTrunks/t{i}") for i in range(2000)])
    assert len(set(names)) == 2000


def test_manifest_fields_in_a_stable_order() -> None:
    full = record(peerHostnames=[{"peerHostname": "peer.example.com"}], googleRootCertFile="EXTERNAL_PRIVATE_CA")
    [manifest] = build_manifests([full], ManifestOptions(namespace="telephony", deletion_policy=DeletionPolicy.ABANDON))
    assert list(manifest.body) == ["apiVersion", "kind", "metadata", "spec"]
    assert manifest.body["metadata"] == {"name": "carrier-a", "namespace": "telephony"}
    assert list(manifest.body["spec"]) == ["projectID", "location", "resourceID", "displayName", "expectedHostname",
                                           "peerHostnames", "googleRootCertFile", "deletionPolicy"]
    text = to_yaml(manifest)
    assert text.startswith(f"---\n# {PARENT}/sipTrunks/JxN1ndLCR9OJvgrDlc32_Q\n"
                           "apiVersion: dialogflow.siptrunk.dev/v1beta1\n")
    keys = [line.split(":")[0].strip() for line in text.splitlines() if line.startswith("  ") and ":" in line]
    assert keys == ["name", "namespace", "projectID", "location", "resourceID", "displayName", "expectedHostname",
                    "peerHostnames", "googleRootCertFile", "deletionPolicy"]


@pytest.mark.parametrize(
    ("options", "record_policy", "expected"),
    [
        (ManifestOptions(), None, {}),
        (ManifestOptions(), DeletionPolicy.ABANDON, {"deletionPolicy": "Abandon"}),
        (ManifestOptions(deletion_policy=DeletionPolicy.DELETE), DeletionPolicy.ABANDON, {"deletionPolicy": "Delete"}),
        (ManifestOptions(observe_only=True), DeletionPolicy.ABANDON, {"managementPolicy": "ObserveOnly"}),
        (ManifestOptions(observe_only=True, deletion_policy=DeletionPolicy.ABANDON), None,
         {"managementPolicy": "ObserveOnly"}),
    ],
)
def test_policies(options: ManifestOptions, record_policy: DeletionPolicy | None, expected: dict[str, str]) -> None:
    plain = record()
    [manifest] = build_manifests([TrunkRecord(plain.trunk, plain.source, record_policy)], options)
    spec = manifest.body["spec"]
    assert {key: spec[key] for key in ("managementPolicy", "deletionPolicy") if key in spec} == expected


def test_optional_fields_left_out_and_hostnames_made_a_set_of_lowercase_names() -> None:
    [manifest] = build_manifests([record(display_name=None, expectedHostname=["SBC.Example.com", "sbc.example.com",
                                                                               "b.example.com"])], ManifestOptions())
    assert "namespace" not in manifest.body["metadata"]
    assert manifest.body["spec"] == {"projectID": "my-project", "location": "global",
                                     "resourceID": "JxN1ndLCR9OJvgrDlc32_Q",
                                     "expectedHostname": ["sbc.example.com", "b.example.com"]}


@pytest.mark.parametrize("observe_only", [False, True])
def test_an_applied_manifest_adopts_its_trunk_without_a_change(observe_only: bool) -> None:
    original = record(peerHostnames=[{"peerHostname": "Peer.example.com"}], googleRootCertFile=5)
    [manifest] = build_manifests([original], ManifestOptions(observe_only=observe_only))
    spec = SipTrunkSpec.from_body(manifest.body["spec"])
    assert spec.adopted_name() == original.trunk.name
    assert spec.observe_only is observe_only
    assert update_mask(spec, original.trunk) == ()


def test_stream_has_one_document_per_trunk() -> None:
    records = [record(f"t{i}", "Same name") for i in range(3)]
    documents = list(yaml.safe_load_all(to_yaml_stream(build_manifests(records, ManifestOptions()))))
    assert [doc["spec"]["resourceID"] for doc in documents] == ["t0", "t1", "t2"]
    assert len({doc["metadata"]["name"] for doc in documents}) == 3


def test_a_trunk_without_a_resource_name_is_a_one_line_error() -> None:
    nameless = TrunkRecord(SipTrunk(expected_hostname=["sbc.example.com"]), "listing")
    with pytest.raises(InventoryError, match=r"^listing: None is not a trunk resource name$"):
        build_manifests([nameless], ManifestOptions())


def test_unicode_display_names_stay_readable_in_yaml() -> None:
    text = to_yaml_stream(build_manifests([record(display_name="Zürich Ü")], ManifestOptions()))
    assert "displayName: Zürich Ü" in text
