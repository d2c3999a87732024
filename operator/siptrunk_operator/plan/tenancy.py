"""The trust boundary: which Google projects and locations a namespace may use, and with whose identity.

Admins own `SipTrunkTenancy` objects (cluster-scoped; tenants cannot edit them). Each maps
namespaces, by name (glob patterns allowed) or by label selector, to projects, locations and
whether the operator's own identity may be used there. With no such object the operator is
single-tenant: every namespace may use every project with the operator's identity.

`forbidden` is checked before any API call, for the spec's names and the recorded name alike.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from siptrunk_operator.models import TrunkName

KIND = "SipTrunkTenancy"
PLURAL = "siptrunktenancies"


@dataclass(frozen=True)
class TenancyRule:
    name: str
    namespaces: tuple[str, ...] = ()
    match_labels: Mapping[str, str] = field(default_factory=dict)
    projects: frozenset[str] = frozenset()
    locations: frozenset[str] = frozenset()
    """Empty: any location."""
    operator_identity: bool = False

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> TenancyRule:
        spec = body.get("spec") or {}
        selector = spec.get("namespaceSelector") or {}
        return cls(
            name=str((body.get("metadata") or {}).get("name", "")),
            namespaces=tuple(str(n) for n in spec.get("namespaces") or ()),
            match_labels={str(k): str(v) for k, v in (selector.get("matchLabels") or {}).items()},
            projects=frozenset(str(p) for p in spec.get("projects") or ()),
            locations=frozenset(str(loc) for loc in spec.get("locations") or ()),
            operator_identity=bool(spec.get("allowOperatorIdentity", False)),
        )

    def applies_to(self, namespace: str, labels: Mapping[str, str]) -> bool:
        by_name = any(fnmatch.fnmatchcase(namespace, pattern) for pattern in self.namespaces)
        by_labels = bool(self.match_labels) and all(labels.get(k) == v for k, v in self.match_labels.items())
        return by_name or by_labels


@dataclass(frozen=True)
class Grant:
    """What the rules that apply to one namespace allow, together."""

    rules: tuple[TenancyRule, ...]

    def allows(self, project: str, location: str) -> bool:
        return any(project in r.projects and (not r.locations or location in r.locations) for r in self.rules)

    def operator_identity(self, project: str, location: str) -> bool:
        return any(r.operator_identity and project in r.projects and (not r.locations or location in r.locations)
                   for r in self.rules)


@dataclass(frozen=True)
class Tenancy:
    rules: tuple[TenancyRule, ...] = ()
    required: bool = False
    """`SIPTRUNK_TENANCY=required`: no policy means nothing is allowed (a pruned policy fails closed)."""

    @property
    def single_tenant(self) -> bool:
        return not self.rules and not self.required

    def grant(self, namespace: str, labels: Mapping[str, str]) -> Grant | None:
        """None in single-tenant mode (everything is allowed)."""
        if self.single_tenant:
            return None
        return Grant(tuple(r for r in self.rules if r.applies_to(namespace, labels)))


def tenancy_from(bodies: Iterable[Mapping[str, Any]], *, required: bool = False) -> Tenancy:
    return tenancy_of((TenancyRule.from_body(b) for b in bodies), required=required)


def tenancy_of(rules: Iterable[TenancyRule], *, required: bool = False) -> Tenancy:
    return Tenancy(tuple(sorted(rules, key=lambda r: r.name)), required)


def forbidden(namespace: str, grant: Grant | None, parents: Iterable[tuple[str, str]], *,
              own_credentials: bool) -> str | None:
    """Why this namespace may not touch one of `parents` ((project, location) pairs: the spec's
    and the recorded trunk's), or may not use the operator's identity there; None if allowed.
    The message names only what the tenant wrote, never another tenant's objects."""
    if grant is None:
        return None
    for project, location in parents:
        if not grant.allows(project, location):
            return (f"Namespace {namespace} may not use project {project} in location {location}: no "
                    f"{KIND} allows it. Ask a cluster admin, or use a project your namespace is granted.")
        if not own_credentials and not grant.operator_identity(project, location):
            return (f"Namespace {namespace} may not use the operator's own identity for project {project}: set "
                    "spec.credentialsSecretRef to a Secret in this namespace holding a key for that project.")
    return None


def parents_of(project: str, location: str, recorded: Iterable[str | None]) -> list[tuple[str, str]]:
    """The spec's parent, plus the parent of each recorded trunk name that parses."""
    found = [(project, location)]
    for name in recorded:
        if not name:
            continue
        try:
            trunk = TrunkName.parse(name)
        except ValueError:
            continue  # an unparsable name is refused as InvalidSpec, with no API call either
        if (trunk.project, trunk.location) not in found:
            found.append((trunk.project, trunk.location))
    return found
