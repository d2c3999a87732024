"""ObjectView: what the loop knows of one SipTrunk object, parsed once from its body."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from siptrunk_operator.models import TrunkName
from siptrunk_operator.plan.conditions import Condition
from siptrunk_operator.plan.identity import ObjectRef
from siptrunk_operator.reasons import ConditionType
from siptrunk_operator.settings import ANNOTATION_PREFIX, FINALIZER
from siptrunk_operator.spec import Policy, SipTrunkSpec

TRUNK_NAME_ANNOTATION = f"{ANNOTATION_PREFIX}/trunk-name"
CREATE_PENDING_ANNOTATION = f"{ANNOTATION_PREFIX}/create-pending"
RESYNC_ANNOTATION = f"{ANNOTATION_PREFIX}/resync-interval-seconds"
WATCHED_ANNOTATIONS = (TRUNK_NAME_ANNOTATION, CREATE_PENDING_ANNOTATION, RESYNC_ANNOTATION)
"""Annotations whose change is worth a reconcile (the operator's own, or set by a person)."""


@dataclass(frozen=True)
class PendingMarker:
    """The create-pending annotation: when a create was started and a fingerprint of what it sent."""

    started: str
    fingerprint: str | None

    @classmethod
    def parse(cls, value: str) -> PendingMarker:
        started, _, digest = value.partition(" ")
        return cls(started, digest or None)

    def __str__(self) -> str:
        return f"{self.started} {self.fingerprint or ''}".rstrip()


def _spec(body: Mapping[str, Any]) -> tuple[SipTrunkSpec | None, str | None]:
    try:
        return SipTrunkSpec.from_body(body.get("spec") or {}), None
    except ValidationError as err:
        return None, f"spec is invalid: {err.errors()[0]['msg']}"


@dataclass(frozen=True)
class ObjectView:
    namespace: str
    name: str
    uid: str
    created: str
    generation: int
    resource_version: str
    spec: SipTrunkSpec | None
    spec_error: str | None
    annotations: Mapping[str, str]
    status: Mapping[str, Any]
    """Status as stored (what a merge patch is computed against)."""
    finalizers: tuple[str, ...] = ()
    deleting: bool = False
    conditions: Mapping[str, Condition] = field(default_factory=dict)
    policy: Policy = field(default_factory=Policy)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> ObjectView:
        meta = body.get("metadata") or {}
        spec, error = _spec(body)
        status = dict(body.get("status") or {})
        conditions = {str(c.get("type")): Condition.parse(c) for c in status.get("conditions") or []
                      if isinstance(c, Mapping)}
        return cls(
            namespace=str(meta.get("namespace", "")), name=str(meta.get("name", "")), uid=str(meta.get("uid", "")),
            created=str(meta.get("creationTimestamp", "")), generation=int(meta.get("generation") or 0),
            resource_version=str(meta.get("resourceVersion", "")), spec=spec, spec_error=error,
            annotations=dict(meta.get("annotations") or {}), status=status,
            finalizers=tuple(meta.get("finalizers") or ()), deleting=bool(meta.get("deletionTimestamp")),
            conditions=conditions, policy=spec.policy() if spec is not None else Policy(),
        )

    @property
    def observe_only(self) -> bool:
        return self.policy.observe_only

    @property
    def has_finalizer(self) -> bool:
        return FINALIZER in self.finalizers

    @property
    def identity(self) -> str | None:
        """The trunk-name annotation: the trunk this object created or adopted (survives a lost status)."""
        return self.annotations.get(TRUNK_NAME_ANNOTATION) or None

    @property
    def identity_problem(self) -> str | None:
        """Why the recorded name (the trunk-name annotation, else status.name) cannot be this object's
        trunk: set by hand, restored into another project, or a name whose segments would not stay
        in their place in a URL. None if it can. No API call is ever made for such a name."""
        recorded = self.recorded_name
        if recorded is None or self.spec is None:
            return None
        try:
            parent = TrunkName.parse(recorded).parent
        except ValueError:
            parent = None
        if parent == self.spec.parent:
            return None
        where = f"The annotation {TRUNK_NAME_ANNOTATION}" if self.identity else "status.name"
        return (f"{where} names {recorded!r}, which is not a trunk under {self.spec.parent} (spec.projectID, "
                "spec.location); correct or remove it.")

    @property
    def recorded_name(self) -> str | None:
        return self.identity or self.status.get("name") or None

    @property
    def claimed_name(self) -> str | None:
        """The trunk this object owns: the recorded annotation is authoritative (a resourceID added
        later cannot redirect a delete), then spec.resourceID, then status. An ObserveOnly object
        follows its resourceID and owns nothing. Raises ValueError for a resourceID outside the parent,
        and for a recorded name with an `identity_problem` (nothing may be asked of the API about it)."""
        problem = self.identity_problem
        if problem is not None:
            raise ValueError(problem)
        adopted = self.spec.adopted_name() if self.spec is not None else None
        if self.observe_only:
            return adopted or self.recorded_name
        return self.identity or adopted or self.recorded_name

    @property
    def pending(self) -> PendingMarker | None:
        value = self.annotations.get(CREATE_PENDING_ANNOTATION)
        return None if value is None else PendingMarker.parse(value)

    @property
    def ref(self) -> ObjectRef:
        try:
            established = self.identity is not None and self.identity == self.claimed_name
        except ValueError:
            established = False
        return ObjectRef(0 if established else 1, self.created, self.namespace, self.name)

    def claim(self) -> dict[str, ObjectRef] | None:
        """This object's entry in the claims index: the trunk it owns. ObserveOnly objects only
        read, so they own nothing and never conflict."""
        try:
            name = self.claimed_name
        except ValueError:
            return None
        if name and self.spec is not None and not self.observe_only and not self.identity_problem:
            return {name: self.ref}
        return None

    def condition(self, kind: ConditionType) -> Condition | None:
        return self.conditions.get(kind)

    def condition_reason(self, kind: ConditionType) -> str | None:
        found = self.conditions.get(kind)
        return None if found is None else found.reason
