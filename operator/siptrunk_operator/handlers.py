"""kopf wiring only: kopf watches and indexes; the engine (`engine/`) decides and writes.

No handler holds a decision. kopf's own state (diff-base, progress annotations, its finalizer) is
unused: the engine is level-based and owns the finalizer `dialogflow.siptrunk.dev/finalizer`.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from siptrunk_operator.api import ClientSettings, SipTrunksClient
from siptrunk_operator.engine.engine import Engine
from siptrunk_operator.engine.identities import GOOGLE_TOKEN_URIS
from siptrunk_operator.kubeapi import CRD_NAME, KubeApi, connection_info
from siptrunk_operator.plan.identity import ObjectRef
from siptrunk_operator.plan.tenancy import PLURAL as TENANCY_PLURAL
from siptrunk_operator.plan.tenancy import TenancyRule, tenancy_of
from siptrunk_operator.plan.view import ObjectView
from siptrunk_operator.runtime import Runtime
from siptrunk_operator.settings import OperatorSettings
from siptrunk_operator.spec import GROUP, PLURAL, VERSION

RESOURCE = (GROUP, VERSION, PLURAL)


class _NoDiffBase(kopf.DiffBaseStorage):
    """There are no change handlers, so kopf's diff-base (a deep copy of every body on every watch
    event, a tenth of the CPU of a 1,000-object burst) has nothing to compare: it is skipped."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return kopf.BodyEssence()

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


@kopf.on.login()
def login(settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo | None:
    return connection_info(settings)


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
    settings.posting.enabled = False  # Events come from the engine, as siptrunk-operator
    settings.persistence.diffbase_storage = _NoDiffBase()
    settings.posting.level = logging.WARNING
    info = connection_info(settings)
    if info is None:
        raise kopf.PermanentError("no Kubernetes credentials: neither in-cluster nor a kubeconfig")
    kube = KubeApi(info, relogin=lambda: connection_info(settings))
    client = SipTrunksClient(ClientSettings.from_env())
    emulator = client.settings.emulator_url
    token_uris = GOOGLE_TOKEN_URIS | ({f"{emulator}/token"} if emulator else set())
    memo.engine = Engine(client, kube, OperatorSettings.from_env(), client_for=client.with_credentials,
                         token_uris=token_uris)
    memo.runtime = Runtime(memo.engine)
    await memo.runtime.start()


@kopf.on.cleanup()
async def stop(memo: Any, **_: Any) -> None:
    runtime: Runtime | None = getattr(memo, "runtime", None)
    if runtime is not None:
        await runtime.stop()


@kopf.on.probe(id="engine")
def engine_probe(memo: Any, **_: Any) -> dict[str, Any]:
    """Part of kopf's /healthz: raises (HTTP 500) if the engine's tasks or the election thread died."""
    runtime: Runtime = memo.runtime
    return runtime.health()


@kopf.index(*RESOURCE)
async def trunk_claims(body: kopf.Body, **_: Any) -> dict[str, ObjectRef] | None:
    """trunk name -> the SipTrunk objects owning it; kopf fills it before any event is handled."""
    return ObjectView.from_body(body).claim()


@kopf.index(GROUP, VERSION, TENANCY_PLURAL)
async def tenancy_rules(body: kopf.Body, **_: Any) -> dict[str, TenancyRule]:
    """The admins' SipTrunkTenancy objects; complete before any SipTrunk event is handled, so no
    object is ever judged without the policy."""
    return {"rules": TenancyRule.from_body(body)}


@kopf.index("", "v1", "namespaces")
async def namespace_labels(body: kopf.Body, name: str, **_: Any) -> dict[str, dict[str, str]]:
    return {name: dict(body.get("metadata", {}).get("labels") or {})}


def _tenancy(engine: Engine, kwargs: dict[str, Any]) -> None:
    rules: kopf.Index[str, TenancyRule] = kwargs["tenancy_rules"]
    labels: kopf.Index[str, dict[str, str]] = kwargs["namespace_labels"]
    engine.set_tenancy(tenancy_of(rules.get("rules", ()), required=engine.settings.tenancy == "required"),
                       {ns: next(iter(values), {}) for ns, values in labels.items()})


@kopf.on.event(*RESOURCE)
async def trunk_event(body: kopf.Body, type: str, memo: Any, **kwargs: Any) -> None:
    claims: kopf.Index[str, ObjectRef] = kwargs["trunk_claims"]
    if not memo.engine.tenancy_known:  # the indexes are complete before the first event: judge with them
        _tenancy(memo.engine, kwargs)
    memo.engine.observe(body, type, claims)


@kopf.on.event(GROUP, VERSION, TENANCY_PLURAL)
@kopf.on.event("", "v1", "namespaces")
async def tenancy_event(memo: Any, **kwargs: Any) -> None:
    """A policy or a namespace's labels changed: objects are judged again at once."""
    _tenancy(memo.engine, kwargs)


@kopf.on.event("apiextensions.k8s.io", "v1", "customresourcedefinitions", when=lambda name, **_: name == CRD_NAME)
async def abandon_on_uninstall(body: kopf.Body, memo: Any, **_: Any) -> None:
    """Deleting the CRD deletes every SipTrunk; that must never delete trunks in the API."""
    if body.get("metadata", {}).get("deletionTimestamp"):
        await memo.engine.uninstall()
