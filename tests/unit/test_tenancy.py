"""The trust boundary: tenancy rules, the planner's refusal before any API call, and per-Secret identities."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest

from siptrunk_operator.engine.identities import Identities, Identity, parse_key
from siptrunk_operator.external import ListedTrunks
from siptrunk_operator.kubeapi import KubeError
from siptrunk_operator.plan.actions import Facts, ListParent
from siptrunk_operator.plan.steps import Context, next_step
from siptrunk_operator.plan.tenancy import Grant, Tenancy, TenancyRule, forbidden, parents_of, tenancy_from
from siptrunk_operator.plan.view import TRUNK_NAME_ANNOTATION, ObjectView
from siptrunk_operator.refresher import TrunkRefresher
from siptrunk_operator.settings import FINALIZER, OperatorSettings
from tests.unit.fakes import FakeClient, FakeKube

SETTINGS = OperatorSettings()
RULE = TenancyRule("team-a", namespaces=("team-a", "team-a-*"), projects=frozenset({"pa"}),
                   locations=frozenset({"global"}))
LABELLED = TenancyRule("by-label", match_labels={"team": "b"}, projects=frozenset({"pb"}), operator_identity=True)
POLICY = Tenancy((RULE, LABELLED))


@pytest.mark.parametrize(("namespace", "labels", "rules"), [
    ("team-a", {}, ["team-a"]),
    ("team-a-dev", {}, ["team-a"]),
    ("team-ab", {}, []),  # a glob, not a prefix
    ("anything", {"team": "b"}, ["by-label"]),
    ("team-a", {"team": "b"}, ["team-a", "by-label"]),
    ("other", {"team": "c"}, []),
])
def test_rules_select_namespaces_by_name_glob_or_labels(namespace: str, labels: dict[str, str],
                                                         rules: list[str]) -> None:
    grant = POLICY.grant(namespace, labels)
    assert grant is not None and [r.name for r in grant.rules] == rules


def test_no_policy_is_single_tenant_and_allows_everything() -> None:
    assert Tenancy().single_tenant and Tenancy().grant("any", {}) is None
    assert forbidden("any", None, [("p", "global")], own_credentials=False) is None


@pytest.mark.parametrize(("parents", "own", "expected"), [
    ([("pa", "global")], True, None),
    ([("pa", "europe-west3")], True, "location europe-west3"),  # the rule limits locations
    ([("pb", "global")], True, "project pb"),
    ([("pa", "global")], False, "operator's own identity"),  # not allowed by this rule
    ([("pa", "global"), ("pz", "global")], True, "project pz"),  # the recorded name's parent counts too
])
def test_forbidden(parents: list[tuple[str, str]], own: bool, expected: str | None) -> None:
    problem = forbidden("team-a", POLICY.grant("team-a", {}), parents, own_credentials=own)
    assert (problem is None) if expected is None else (problem is not None and expected in problem)


def test_the_operator_identity_is_allowed_only_where_a_rule_says_so() -> None:
    grant = POLICY.grant("x", {"team": "b"})
    assert forbidden("x", grant, [("pb", "any-region")], own_credentials=False) is None
    assert grant == Grant((LABELLED,))
    regional = Grant((TenancyRule("r", ("x",), {}, frozenset({"p"}), frozenset({"global"}), True),
                      TenancyRule("s", ("x",), {}, frozenset({"p"}), frozenset(), False)))
    assert regional.operator_identity("p", "global") and not regional.operator_identity("p", "europe-west3")
    problem = forbidden("x", regional, [("p", "europe-west3")], own_credentials=False)
    assert problem is not None and "credentialsSecretRef" in problem


def test_the_policy_kind_and_plural_are_the_crds() -> None:
    import yaml

    from siptrunk_operator.plan import tenancy

    crd = yaml.safe_load((Path(__file__).parents[2] / "crds" / f"{tenancy.PLURAL}.dialogflow.siptrunk.dev.yaml")
                         .read_text())
    assert (crd["spec"]["names"]["kind"], crd["spec"]["names"]["plural"]) == (tenancy.KIND, tenancy.PLURAL)
    assert tenancy.KIND in str(forbidden("n", Grant(()), [("p", "global")], own_credentials=True))


def test_rules_are_read_from_objects_and_parents_from_recorded_names() -> None:
    tenancy = tenancy_from([{"metadata": {"name": "z"}, "spec": {"namespaces": ["n"], "projects": ["p"]}},
                            {"metadata": {"name": "a"}, "spec": {"namespaceSelector": {"matchLabels": {"k": "v"}},
                                                                 "projects": ["q"], "locations": ["global"],
                                                                 "allowOperatorIdentity": True}}])
    assert [r.name for r in tenancy.rules] == ["a", "z"]
    assert tenancy.rules[0] == TenancyRule("a", (), {"k": "v"}, frozenset({"q"}), frozenset({"global"}), True)
    assert tenancy.rules[1] == TenancyRule("z", ("n",), {}, frozenset({"p"}), frozenset(), False)
    assert parents_of("p", "global", ["projects/other/locations/eu/sipTrunks/t", None, "garbage",
                                      "projects/p/locations/global/sipTrunks/u"]) == [("p", "global"), ("other", "eu")]


def _view(spec: dict[str, Any], *, annotations: dict[str, str] | None = None, deleting: bool = False,
          namespace: str = "team-a") -> ObjectView:
    meta: dict[str, Any] = {"name": "o", "namespace": namespace, "uid": "u", "generation": 1,
                            "resourceVersion": "1", "annotations": annotations or {}, "finalizers": [FINALIZER]}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-01T00:00:00Z"
    return ObjectView.from_body({"metadata": meta, "spec": spec})


KEYED = {"projectID": "pa", "expectedHostname": ["a.example.com"], "credentialsSecretRef": {"name": "k"}}


@pytest.mark.parametrize(("spec", "annotations", "deleting", "reason"), [
    ({**KEYED, "projectID": "pb"}, {}, False, "Forbidden"),
    (KEYED, {TRUNK_NAME_ANNOTATION: "projects/pz/locations/global/sipTrunks/t"}, False, "Forbidden"),
    ({**KEYED, "projectID": "pb"}, {}, True, "Forbidden"),
    ({k: v for k, v in KEYED.items() if k != "credentialsSecretRef"}, {}, False, "Forbidden"),
])
def test_the_planner_refuses_before_any_api_call(spec: dict[str, Any], annotations: dict[str, str], deleting: bool,
                                                 reason: str) -> None:
    ctx = Context(SETTINGS, lambda _: [], now="2026-12-01T10:00:00Z", grant=POLICY.grant("team-a", {}))
    step = next_step(_view(spec, annotations=annotations, deleting=deleting), Facts(uninstalling=False), ctx)
    assert step.action is None
    assert {str(c.type): str(c.reason) for c in step.result.conditions}["Synced"] == reason
    assert step.result.retry_after == SETTINGS.permission_retry_seconds


def test_allowed_objects_plan_as_usual_and_a_credentials_problem_stops_them() -> None:
    ctx = Context(SETTINGS, lambda _: [], now="2026-12-01T10:00:00Z", grant=POLICY.grant("team-a", {}))
    status = {"conditions": [{"type": "Ready", "status": "False", "reason": "Creating", "observedGeneration": 1}]}
    view = ObjectView.from_body({"metadata": {"name": "o", "namespace": "team-a", "uid": "u", "generation": 1},
                                 "spec": KEYED, "status": status})
    assert isinstance(next_step(view, Facts(), ctx).action, ListParent)
    broken = Context(SETTINGS, lambda _: [], now="2026-12-01T10:00:00Z", credentials_problem="no key")
    step = next_step(view, Facts(), broken)
    assert step.action is None and "CredentialsUnavailable" in {str(c.reason) for c in step.result.conditions}


def _secret(key: dict[str, Any] | str) -> dict[str, str]:
    text = key if isinstance(key, str) else json.dumps(key)
    return {"credentials.json": base64.b64encode(text.encode()).decode()}


SA = {"type": "service_account", "client_email": "a@x", "private_key": "-----BEGIN PRIVATE KEY-----"}


@pytest.mark.parametrize(("data", "problem"), [
    (_secret(SA), None),
    (_secret({**SA, "token_uri": "https://oauth2.googleapis.com/token"}), None),
    (_secret({**SA, "token_uri": "http://169.254.169.254/steal"}), "token_uri that is not Google's"),
    (_secret({**SA, "type": "external_account"}), "external-account file"),  # it would read files of its choosing
    (_secret({**SA, "type": "authorized_user"}), "not a service-account key"),
    (_secret({"type": "service_account"}), "lacks client_email or private_key"),
    (_secret("not json"), "not a JSON credentials file"),
    ({"credentials.json": "%%%"}, "not a JSON credentials file"),
    ({"other": "e30="}, "has no key 'credentials.json'"),
])
def test_secret_keys_are_checked_and_never_quoted(data: dict[str, str], problem: str | None) -> None:
    text, why = parse_key(data, "credentials.json", "ns/k")
    assert (why is None) == (problem is None) and (text is not None) == (problem is None)
    if why is not None:
        assert problem in why and "PRIVATE" not in why


def _identities(kube: FakeKube) -> tuple[Identities, list[str]]:
    made: list[str] = []

    def identity(text: str) -> Identity:
        made.append(json.loads(text)["client_email"])
        client = FakeClient()
        refresher = TrunkRefresher(client, fast_seconds=1, slow_seconds=1)
        return Identity(client, refresher, ListedTrunks(client, refresher))

    client = FakeClient()
    refresher = TrunkRefresher(client, fast_seconds=1, slow_seconds=1)
    return Identities(Identity(client, refresher, ListedTrunks(client, refresher)), kube, identity), made


def test_credentials_are_cached_per_secret_version_and_a_rotation_switches_identity() -> None:
    kube = FakeKube()
    identities, made = _identities(kube)
    view = _view(KEYED)
    kube.secrets["k"] = ("1", _secret(SA))
    first = asyncio.run(identities.resolve(view))
    assert asyncio.run(identities.resolve(view)).external is first.external and made == ["a@x"]
    kube.secrets["k"] = ("2", _secret({**SA, "client_email": "b@x"}))
    rotated = asyncio.run(identities.resolve(view))
    assert rotated.external is not first.external and made == ["a@x", "b@x"]
    assert len(list(identities.all())) == 2  # the default and the current key: the rotated one is gone
    kube.secrets["k"] = ("3", _secret({**SA, "client_email": "b@x"}))  # a new version, the same key
    assert asyncio.run(identities.resolve(view)).external is rotated.external and made == ["a@x", "b@x"]
    assert asyncio.run(identities.resolve(_view({"projectID": "pa"}))).external is identities.default.external


def test_a_missing_or_unreadable_secret_is_a_clear_problem_but_a_deletion_keeps_the_last_key() -> None:
    kube = FakeKube()
    identities, _ = _identities(kube)
    missing = asyncio.run(identities.resolve(_view(KEYED)))
    assert missing.external is None and "does not exist" in str(missing.problem)
    kube.secrets["k"] = ("1", _secret(SA))
    known = asyncio.run(identities.resolve(_view(KEYED))).external
    del kube.secrets["k"]  # a namespace being deleted takes the Secret first
    assert asyncio.run(identities.resolve(_view(KEYED, deleting=True))).external is known
    gone = asyncio.run(identities.resolve(_view(KEYED)))  # but a live object is told its Secret is gone
    assert gone.external is None and "does not exist" in str(gone.problem)
    kube.secret_error = KubeError("forbidden", 403)
    denied = asyncio.run(identities.resolve(_view(KEYED)))
    assert "siptrunk-operator-tenant-secrets" in str(denied.problem)
    kube.secret_error = KubeError("boom", 500)
    with pytest.raises(KubeError):
        asyncio.run(identities.resolve(_view(KEYED)))
