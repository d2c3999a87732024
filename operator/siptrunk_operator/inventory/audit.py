"""The API's trunks against the cluster's SipTrunk objects, for one (project, location).

Every trunk and every object of that parent lands in one finding, the first class that applies,
in this order:

============  ==============================================================  =========
class         what                                                            exit bit
============  ==============================================================  =========
conflicting   two or more objects claim one trunk (the operator lets one own   32
              it, the others report Conflict)
missing       an object whose recorded trunk is not in the API                  8
duplicated    several trunks match one object's spec and belong to no other    16
              object (the operator's own create-recovery matching)
missing       an object that records no trunk (not created or adopted yet)      8
managed       a trunk owned by exactly one object (or only observed by          0
              ObserveOnly objects)
orphaned      a trunk in the API that no object owns or observes                4
============  ==============================================================  =========

The exit code ORs the bits of the classes found: 0 when everything is managed.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from siptrunk_operator.models import SipTrunk
from siptrunk_operator.plan.identity import Listing, recover_create
from siptrunk_operator.plan.view import ObjectView

EXIT_ERROR = 1
"""The audit could not run (credentials, permission, location, cluster access)."""


class Kind(enum.StrEnum):
    MANAGED = "managed"
    ORPHANED = "orphaned"
    MISSING = "missing"
    DUPLICATED = "duplicated"
    CONFLICTING = "conflicting"

    @property
    def exit_bit(self) -> int:
        return _EXIT_BITS[self]


_EXIT_BITS = {Kind.MANAGED: 0, Kind.ORPHANED: 4, Kind.MISSING: 8, Kind.DUPLICATED: 16, Kind.CONFLICTING: 32}


@dataclass(frozen=True)
class Finding:
    kind: Kind
    trunks: tuple[str, ...]
    """Full resource names."""
    objects: tuple[str, ...]
    """``namespace/name``."""
    detail: str


@dataclass(frozen=True)
class AuditReport:
    parent: str
    findings: tuple[Finding, ...]

    @property
    def exit_code(self) -> int:
        code = 0
        for finding in self.findings:
            code |= finding.kind.exit_bit
        return code

    def count(self, kind: Kind) -> int:
        return sum(finding.kind is kind for finding in self.findings)


def _ref(view: ObjectView) -> str:
    return f"{view.namespace}/{view.name}"


def _claimed(view: ObjectView) -> str | None:
    try:
        return view.claimed_name
    except ValueError:  # a resourceID outside the parent: it claims nothing here
        return None


def _describe(trunk: SipTrunk) -> str:
    label = f"{trunk.display_name!r} " if trunk.display_name else ""
    return f"{label}{','.join(trunk.expected_hostname)}"


@dataclass
class _Audit:
    """One pass; ``covered`` keeps each trunk and object in the first finding that names it."""

    listing: Listing
    views: list[ObjectView]
    findings: list[Finding] = field(default_factory=list)
    covered: set[str] = field(default_factory=set)

    def add(self, kind: Kind, trunks: Iterable[str], views: Iterable[ObjectView], detail: str) -> None:
        trunk_names, refs = tuple(trunks), tuple(_ref(view) for view in views)
        self.covered.update(trunk_names, refs)
        self.findings.append(Finding(kind, trunk_names, refs, detail))

    def open_views(self) -> list[ObjectView]:
        return [view for view in self.views if _ref(view) not in self.covered]

    def owners(self) -> dict[str, list[ObjectView]]:
        """Trunk name → the objects that own it (ObserveOnly objects own nothing)."""
        owners: dict[str, list[ObjectView]] = {}
        for view in self.views:
            name = _claimed(view)
            if name and not view.observe_only:
                owners.setdefault(name, []).append(view)
        return owners


def audit(parent: str, trunks: Sequence[SipTrunk], bodies: Iterable[Mapping[str, Any]]) -> AuditReport:
    """Classify ``trunks`` (one complete listing of ``parent``) and the SipTrunk ``bodies`` (all the
    cluster's; those of other parents are not looked at)."""
    views = [view for view in map(ObjectView.from_body, bodies) if view.spec is not None and view.spec.parent == parent]
    state = _Audit(Listing(trunks), sorted(views, key=lambda view: view.ref))
    by_name = {trunk.name: trunk for trunk in trunks if trunk.name}
    owners = state.owners()
    _conflicting(state, owners)
    _gone(state, by_name)
    _duplicated(state, owners)
    _unrecorded(state)
    _managed_and_orphaned(state, owners)
    order = list(Kind)
    findings = sorted(state.findings, key=lambda f: (order.index(f.kind), f.trunks, f.objects))
    return AuditReport(parent, tuple(findings))


def _conflicting(state: _Audit, owners: Mapping[str, list[ObjectView]]) -> None:
    for name, claimants in sorted(owners.items()):
        if len(claimants) > 1:
            winner, *others = sorted(claimants, key=lambda view: view.ref)  # the operator's own order
            state.add(Kind.CONFLICTING, [name], [winner, *others],
                      f"{_ref(winner)} owns it; {', '.join(map(_ref, others))} report Conflict")


def _gone(state: _Audit, by_name: Mapping[str, SipTrunk]) -> None:
    for view in state.open_views():
        name = _claimed(view)
        if name is not None and name not in by_name:
            state.add(Kind.MISSING, [name], [view], view.identity_problem or "its trunk is not in the API")


def _unrecorded(state: _Audit) -> None:
    for view in state.open_views():
        if _claimed(view) is None:
            state.add(Kind.MISSING, [], [view], "records no trunk (not created or adopted yet)")


def _duplicated(state: _Audit, owners: Mapping[str, list[ObjectView]]) -> None:
    claimed = frozenset(owners)
    for view in state.open_views():
        if view.observe_only or view.spec is None:
            continue
        owned = _claimed(view)
        # Its own trunk has no other claimant here: conflicts are already reported.
        matches = recover_create(view.spec, state.listing, owned_elsewhere=claimed - {owned}).ambiguous
        if len(matches) > 1:
            state.add(Kind.DUPLICATED, matches, [view],
                      f"{len(matches)} trunks match its spec and belong to no other SipTrunk; "
                      + (f"it owns {owned}" if owned else "set spec.resourceID to the one it should own"))


def _managed_and_orphaned(state: _Audit, owners: Mapping[str, list[ObjectView]]) -> None:
    observers: dict[str, list[ObjectView]] = {}
    for view in state.open_views():
        name = _claimed(view)
        if view.observe_only and name:
            observers.setdefault(name, []).append(view)
    for trunk in state.listing:
        name = trunk.name or ""
        if name in state.covered:
            continue
        owner, watching = owners.get(name, []), observers.pop(name, [])
        if owner:
            state.add(Kind.MANAGED, [name], [*owner, *watching], "")
        elif watching:
            state.add(Kind.MANAGED, [name], watching, "ObserveOnly: observed, owned by no SipTrunk")
        else:
            state.add(Kind.ORPHANED, [name], [], _describe(trunk))
    for name, watching in observers.items():  # their trunk is already reported in another finding
        state.add(Kind.MANAGED, [name], watching, "ObserveOnly")
