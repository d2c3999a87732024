"""Whose Google identity an object uses: the operator's own, or the key its credentialsSecretRef names.

The Secret (in the object's own namespace) is read on every pass that may call the API, and its
credentials are cached per Secret resourceVersion: a rotated key is used on the next reconcile,
without a restart. Each Secret gets its own REST client, shared listing and refresher task (a
rotation replaces them, so nothing piles up); all clients share one rate limiter, since Google's
quota is per project, not per key.

Only service-account keys are accepted, and only with Google's token endpoint (or the emulator's):
a key file chooses where the operator sends its token requests, and an external-account file also
chooses files and URLs the operator would read, so a tenant could point either at the operator's own
credentials.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from siptrunk_operator.external import ListedTrunks, TrunkClient, TrunkExternal
from siptrunk_operator.kubeapi import KubeError
from siptrunk_operator.plan.view import ObjectView
from siptrunk_operator.refresher import TrunkRefresher

_LOG = logging.getLogger(__name__)
GOOGLE_TOKEN_URIS = frozenset({"https://oauth2.googleapis.com/token", "https://accounts.google.com/o/oauth2/token"})


class SecretReader(Protocol):
    async def read_secret(self, namespace: str, name: str) -> tuple[str, Mapping[str, str]] | None:
        """(resourceVersion, data as stored: base64 values), or None if it does not exist."""
        ...


@dataclass
class Identity:
    client: TrunkClient
    refresher: TrunkRefresher
    external: ListedTrunks
    task: asyncio.Task[None] | None = None


@dataclass(frozen=True)
class Resolved:
    external: TrunkExternal | None
    problem: str | None = None
    """Why the object's credentials cannot be used (then `external` is None)."""


def parse_key(data: Mapping[str, str], key: str, where: str,
              token_uris: frozenset[str] = GOOGLE_TOKEN_URIS) -> tuple[str | None, str | None]:
    """(credentials JSON, None) or (None, why not). Never quotes the Secret's content."""
    if key not in data:
        return None, f"Secret {where} has no key {key!r} (spec.credentialsSecretRef.key)."
    try:
        text = base64.b64decode(data[key], validate=True).decode()
        info = json.loads(text)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None, f"Key {key!r} of Secret {where} is not a JSON credentials file."
    kind = info.get("type") if isinstance(info, dict) else None
    if kind == "external_account":
        return None, (f"Key {key!r} of Secret {where} is an external-account file: its credential_source names "
                      "files and URLs the operator would read, so tenants' files are not accepted; use a "
                      "service-account key, or the operator's own identity where the policy allows it.")
    if kind != "service_account" or not isinstance(info, dict):
        return None, f"Key {key!r} of Secret {where} is not a service-account key JSON."
    if not info.get("client_email") or not info.get("private_key"):
        return None, f"Key {key!r} of Secret {where} lacks client_email or private_key."
    if info.get("token_uri", next(iter(sorted(GOOGLE_TOKEN_URIS)))) not in token_uris:
        return None, (f"Key {key!r} of Secret {where} names a token_uri that is not Google's: the operator "
                      "sends its token requests only there.")
    return text, None


class Identities:
    """Resolves each object's identity to the TrunkExternal its pass uses."""

    def __init__(self, default: Identity, secrets: SecretReader, make: Callable[[str], Identity], *,
                 token_uris: frozenset[str] = GOOGLE_TOKEN_URIS) -> None:
        self.default, self._secrets, self._make, self._token_uris = default, secrets, make, token_uris
        self._by_secret: dict[tuple[str, str], tuple[str, Identity]] = {}
        """(namespace, secret) -> (digest of the key, its identity): the key last read from it."""
        self._run: Callable[[Identity], asyncio.Task[None]] | None = None

    def all(self) -> Iterable[Identity]:
        return [self.default, *(identity for _, identity in self._by_secret.values())]

    def tasks(self) -> list[asyncio.Task[None]]:
        return [identity.task for identity in self.all() if identity.task is not None]

    def start(self, run: Callable[[Identity], asyncio.Task[None]]) -> None:
        self._run = run
        for identity in self.all():
            identity.task = run(identity)

    async def resolve(self, view: ObjectView) -> Resolved:
        ref = view.spec.credentials_secret_ref if view.spec is not None else None
        if ref is None:
            return Resolved(self.default.external)
        where = f"{view.namespace}/{ref.name}"
        try:
            found = await self._secrets.read_secret(view.namespace, ref.name)
        except KubeError as err:
            if err.status == 403:
                return Resolved(None, f"The operator may not read Secret {where}: bind the ClusterRole "
                                      "siptrunk-operator-tenant-secrets in this namespace (see the README).")
            raise
        known = self._by_secret.get((view.namespace, ref.name))
        if found is None:
            if view.deleting and known is not None:  # a namespace being torn down deletes the Secret first
                return Resolved(known[1].external)
            advice = (" To delete the object without deleting its trunk, set spec.deletionPolicy: Abandon."
                      if view.deleting else "")
            return Resolved(None, f"Secret {where} (spec.credentialsSecretRef) does not exist.{advice}")
        version, data = found
        text, problem = parse_key(data, ref.key, where, self._token_uris)
        if text is None:
            return Resolved(None, problem)
        digest = hashlib.sha256(text.encode()).hexdigest()
        if known is not None and known[0] == digest:
            return Resolved(known[1].external)
        identity = self._make(text)
        if self._run is not None:
            identity.task = self._run(identity)
        self._by_secret[(view.namespace, ref.name)] = (digest, identity)
        if known is not None:
            await _retire(known[1])
        _LOG.info("credentials from Secret %s (resourceVersion %s)", where, version)
        return Resolved(identity.external)

    async def close(self) -> None:
        for identity in self.all():
            await _retire(identity)

    def listing_ages(self) -> dict[tuple[str, str], float]:
        ages: dict[tuple[str, str], float] = {}
        for identity in self.all():
            for key, age in identity.refresher.listing_ages().items():
                ages[key] = min(age, ages.get(key, age))
        return ages


async def _retire(identity: Identity) -> None:
    """A replaced (rotated) or closing identity: its refresher stops and its connections close."""
    if identity.task is not None:
        identity.task.cancel()
    await identity.client.aclose()
