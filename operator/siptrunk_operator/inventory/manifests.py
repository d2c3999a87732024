"""Trunks as SipTrunk manifests that adopt them: names made valid and unique, a stable field order."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from siptrunk_operator.models import CertFile, SipTrunk, TrunkName
from siptrunk_operator.spec import GROUP, KIND, VERSION, DeletionPolicy, ManagementPolicy

from .errors import InventoryError

NAME_MAX = 63
"""Object names are RFC 1123 labels (the strictest name rule in Kubernetes, valid everywhere)."""
_SUFFIX_DIGITS = 6
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class TrunkRecord:
    """A trunk to write a manifest for, and where it was found (a comment above the manifest)."""

    trunk: SipTrunk
    source: str
    deletion_policy: DeletionPolicy | None = None
    """The policy its previous manager asked for (Terraform's ``deletion_policy``), if any."""

    @property
    def name(self) -> TrunkName:
        try:
            return TrunkName.parse(self.trunk.name or "")
        except ValueError:
            raise InventoryError(f"{self.source}: {self.trunk.name!r} is not a trunk resource name") from None


@dataclass(frozen=True)
class ManifestOptions:
    namespace: str | None = None
    observe_only: bool = False
    deletion_policy: DeletionPolicy | None = None
    """Overrides each record's own policy when set."""


@dataclass(frozen=True)
class Manifest:
    name: str
    body: dict[str, Any]
    source: str


def slug(text: str) -> str:
    """``text`` as an RFC 1123 label: accents dropped, other characters folded into ``-``, at most 63
    characters; empty when nothing usable is left (e.g. only CJK characters or punctuation)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _NOT_ALNUM.sub("-", ascii_text.lower()).strip("-")[:NAME_MAX].rstrip("-")


def base_name(record: TrunkRecord) -> str:
    """From the display name; else from the trunk ID; else ``trunk``."""
    return slug(record.trunk.display_name or "") or slug(record.name.trunk_id) or "trunk"


def _suffixed(base: str, suffix: str) -> str:
    return f"{base[:NAME_MAX - len(suffix) - 1].rstrip('-')}-{suffix}"


def unique_names(candidates: Sequence[tuple[str, str]]) -> list[str]:
    """One name per ``(base, key)``: a base used once stays as it is; bases shared by several get a
    suffix from a digest of their key (the trunk's resource name), so a name does not depend on the
    listing's order nor change when another trunk appears."""
    counts = Counter(base for base, _ in candidates)
    taken = {base for base, count in counts.items() if count == 1}
    names: list[str] = []
    for base, key in candidates:
        if counts[base] == 1:
            names.append(base)
            continue
        digest = hashlib.sha256(key.encode()).hexdigest()
        name, extra = _suffixed(base, digest[:_SUFFIX_DIGITS]), 0
        while name in taken:  # a digest prefix shared, or another trunk's base that looks suffixed
            extra += 1
            name = _suffixed(base, f"{digest[:_SUFFIX_DIGITS]}{extra}")
        taken.add(name)
        names.append(name)
    return names


def _hostnames(values: Iterable[str]) -> list[str]:
    """Lowercased and without repeats, in the API's order: the CRD holds them as a set of DNS names."""
    return list(dict.fromkeys(value.strip().lower() for value in values))


def spec_for(record: TrunkRecord, options: ManifestOptions) -> dict[str, Any]:
    """The spec, in the order ``kubectl explain`` documents it; unset optional fields are left out."""
    trunk, name = record.trunk, record.name
    spec: dict[str, Any] = {"projectID": name.project, "location": name.location, "resourceID": name.trunk_id}
    if trunk.display_name:
        spec["displayName"] = trunk.display_name
    spec["expectedHostname"] = _hostnames(trunk.expected_hostname)
    if trunk.peer_hostnames:
        spec["peerHostnames"] = _hostnames(peer.peer_hostname for peer in trunk.peer_hostnames)
    if trunk.google_root_cert_file not in (None, CertFile.CERT_FILE_UNSPECIFIED):
        spec["googleRootCertFile"] = str(trunk.google_root_cert_file)
    if options.observe_only:
        spec["managementPolicy"] = str(ManagementPolicy.OBSERVE_ONLY)
    policy = options.deletion_policy or record.deletion_policy
    if policy is not None and not options.observe_only:  # ObserveOnly always abandons
        spec["deletionPolicy"] = str(policy)
    return spec


def build_manifests(records: Sequence[TrunkRecord], options: ManifestOptions) -> list[Manifest]:
    names = unique_names([(base_name(record), str(record.name)) for record in records])
    manifests = []
    for record, name in zip(records, names, strict=True):
        metadata: dict[str, Any] = {"name": name}
        if options.namespace:
            metadata["namespace"] = options.namespace
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": metadata,
                "spec": spec_for(record, options)}
        manifests.append(Manifest(name, body, record.source))
    return manifests


def to_yaml(manifest: Manifest) -> str:
    """One YAML document, keys in the order built, with its source as a comment."""
    text: str = yaml.safe_dump(manifest.body, sort_keys=False, allow_unicode=True, default_flow_style=False)
    source = " ".join(manifest.source.split())
    return f"---\n# {source}\n{text}"


def to_yaml_stream(manifests: Iterable[Manifest]) -> str:
    return "".join(to_yaml(manifest) for manifest in manifests)


def records_from_listing(trunks: Iterable[SipTrunk]) -> list[TrunkRecord]:
    """Listed trunks, each commented with its resource name."""
    return [TrunkRecord(trunk, str(trunk.name)) for trunk in trunks]
