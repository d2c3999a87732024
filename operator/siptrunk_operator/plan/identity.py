"""Which trunk an object owns, who wins a conflict, and how an interrupted create is recovered."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass

from siptrunk_operator.models import SipTrunk
from siptrunk_operator.plan.drift import hostname_set, matches_spec
from siptrunk_operator.spec import SipTrunkSpec


def fingerprint(hostnames: Iterable[str], display_name: str | None) -> str:
    """A short digest of what a create sends, kept in the pending marker: recovery then matches what
    was sent, even if the spec was edited before the retry."""
    text = "\n".join(sorted(hostname_set(hostnames))) + "\n#" + (display_name or "")
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True, order=True)
class ObjectRef:
    """A SipTrunk object claiming a trunk. Ordered so the winner of a conflict sorts first: an
    established owner (rank 0: its annotation records the trunk) before a new claim (rank 1),
    then the oldest object."""

    rank: int
    created: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


def conflict_owner(me: ObjectRef, claimants: Iterable[ObjectRef]) -> ObjectRef | None:
    """The object that owns the trunk instead of `me`, or None when `me` is its owner."""
    others = [c for c in claimants if (c.namespace, c.name) != (me.namespace, me.name)]
    oldest = min([me, *others])
    return None if oldest == me else oldest


@dataclass(frozen=True)
class Recovery:
    """What a listing says about a create: adopt one trunk, create, or stop (ambiguous)."""

    adopt: str | None = None
    ambiguous: tuple[str, ...] = ()

    @property
    def create(self) -> bool:
        return self.adopt is None and not self.ambiguous


class Listing(tuple[SipTrunk, ...]):
    """A parent's trunks as one listing returned them, indexed (once, lazily) by what a create
    sends: the creates sharing a listing look their candidates up instead of each scanning every
    trunk, which at thousands of trunks made a burst quadratic."""

    @functools.cached_property
    def by_fingerprint(self) -> dict[str, list[SipTrunk]]:
        index: dict[str, list[SipTrunk]] = {}
        for trunk in self:
            index.setdefault(fingerprint(trunk.expected_hostname, trunk.display_name), []).append(trunk)
        return index

    @functools.cached_property
    def by_hostnames(self) -> dict[frozenset[str], list[SipTrunk]]:
        index: dict[frozenset[str], list[SipTrunk]] = {}
        for trunk in self:
            index.setdefault(hostname_set(trunk.expected_hostname), []).append(trunk)
        return index


def _pool(spec: SipTrunkSpec, listed: Iterable[SipTrunk], sent: str | None) -> Iterable[SipTrunk]:
    if not isinstance(listed, Listing):
        return listed
    if sent is not None:
        return listed.by_fingerprint.get(sent, [])
    return listed.by_hostnames.get(hostname_set(spec.expected_hostname), [])


def recover_create(spec: SipTrunkSpec, listed: Iterable[SipTrunk], owned_elsewhere: Container[str],
                   sent: str | None = None, *, exclude: str | None = None) -> Recovery:
    """Never a blind second create: adopt the single unowned match, create if none, else stop.
    With `sent` (the marker's fingerprint) a match is what was sent; without it, what the spec asks.
    `exclude` is a trunk known not to count (the missing one being re-created)."""

    def matches(trunk: SipTrunk) -> bool:
        if sent is None:
            return matches_spec(spec, trunk)
        return fingerprint(trunk.expected_hostname, trunk.display_name) == sent

    candidates = sorted(t.name for t in _pool(spec, listed, sent)
                        if t.name and t.name != exclude and matches(t) and t.name not in owned_elsewhere)
    if len(candidates) == 1:
        return Recovery(adopt=candidates[0])
    return Recovery(ambiguous=tuple(candidates))


def ambiguous_message(spec: SipTrunkSpec, names: Sequence[str], started: str, *, deleting: bool) -> str:
    """Which trunk is which, and what a person can do; any of these changes is acted on at once."""
    listed = ", ".join(names)
    head = (f"The create started at {started} was interrupted, and {len(names)} trunks in {spec.parent} match what "
            f"it sent and belong to no SipTrunk: {listed}. One was made by that create; the others were made "
            "outside this operator (the API does not say which is which).")
    if deleting:
        return (f"{head} Nothing is deleted until this is resolved: set spec.resourceID to the trunk to delete, "
                "or set spec.deletionPolicy: Abandon to leave them all; deleting the extra trunks in the API "
                "also resolves it.")
    return (f"{head} Set spec.resourceID to the one this object should own (the others stay in the API: delete "
            "them there if unwanted), or delete the extra trunks in the API and the operator adopts the one left.")


def existing_message(spec: SipTrunkSpec, names: Sequence[str]) -> str:
    return (
        f"{', '.join(names)} in {spec.parent} already {'has' if len(names) == 1 else 'have'} these hostnames and "
        "belong to no SipTrunk. To manage it, set spec.resourceID to it; to create a new trunk anyway, change "
        "the hostnames or displayName, or delete the existing one in the API."
    )
