"""The leak scan run after the whole end-to-end session (tests/e2e/conftest.py): no operator log line,
Event or SipTrunk status may hold a token the emulator issued, a JWT, a private key or a key ID.

Pure functions over texts, so that tests/unit/test_leak_scan.py can prove the scan fails on a
planted secret. What leaked is reported by kind and place, never in full.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SHAPES: dict[str, re.Pattern[str]] = {
    "an access token (ya29.)": re.compile(r"ya29\.[A-Za-z0-9._~+/=-]{8,}"),
    "a JWT": re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
    "a private key": re.compile(r"-----BEGIN[A-Z ]*PRIVATE KEY-----"),
}
"""Shapes no text may hold, whoever issued it (other emulators, a ServiceAccount token, a key)."""


@dataclass(frozen=True)
class Leak:
    where: str
    what: str
    sample: str
    """The first characters and the length: enough to recognise it, not to use it."""


@dataclass
class Scan:
    secrets: dict[str, str] = field(default_factory=dict)
    """Exact values (issued tokens, key IDs, lines of private keys) -> what each is."""
    sources: dict[str, int] = field(default_factory=dict)
    """Kind of text -> how many were scanned (for the summary)."""
    leaks: list[Leak] = field(default_factory=list)

    def add_key(self, key: Mapping[str, Any], origin: str) -> None:
        """A service-account key: its ID and every full line of its private key's base64."""
        key_id = str(key.get("private_key_id") or "")
        if len(key_id) >= 16:  # Google's are 40 hex digits; a shorter one is a unit test's stand-in
            self.secrets[key_id] = f"the key ID of {origin}"
        for line in str(key.get("private_key", "")).splitlines():
            if len(line) >= 40 and not line.startswith("-----"):
                self.secrets[line] = f"the private key of {origin}"

    def scan(self, kind: str, where: str, text: str) -> None:
        self.sources[kind] = self.sources.get(kind, 0) + 1
        self.leaks += find_leaks(where, text, self.secrets)

    def summary(self) -> str:
        scanned = ", ".join(f"{count} {kind}" for kind, count in sorted(self.sources.items())) or "nothing"
        tokens = sum(1 for what in self.secrets.values() if what.startswith("a token"))
        keys = sum(1 for what in self.secrets.values() if what.startswith("the key ID"))
        verdict = f"{len(self.leaks)} LEAK(S)" if self.leaks else "clean"
        return f"leak scan: {scanned}; against {tokens} issued tokens, {keys} keys and {len(SHAPES)} shapes: {verdict}"

    def report(self) -> str:
        lines = [f"  {leak.where}: {leak.what} ({leak.sample})" for leak in self.leaks[:50]]
        more = [f"  ... and {len(self.leaks) - 50} more"] if len(self.leaks) > 50 else []
        return "\n".join([self.summary(), *lines, *more])


def _sample(value: str) -> str:
    return f"{value[:6]}... {len(value)} chars"


def find_leaks(where: str, text: str, secrets: Mapping[str, str]) -> list[Leak]:
    """Every exact secret, and every credential shape, found in `text` (a whole file at once; a hit
    names its line when the text has several)."""
    def at(index: int) -> str:
        return f"{where}:{text.count(chr(10), 0, index) + 1}" if "\n" in text else where

    found = [Leak(at(text.find(secret)), what, _sample(secret)) for secret, what in secrets.items()
             if secret and secret in text]
    for what, shape in SHAPES.items():
        found += [Leak(at(match.start()), what, _sample(match.group())) for match in shape.finditer(text)]
    return found


def keys_in_files(root: Path) -> Iterable[tuple[dict[str, Any], str]]:
    """Service-account keys written under `root` (write_emulator_key's files, and any other)."""
    for path in sorted(root.rglob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        if isinstance(data, dict) and data.get("type") == "service_account":
            yield data, f"key file {path.name} ({data.get('client_email')})"


def keys_in_secrets(secrets: Iterable[Mapping[str, Any]]) -> Iterable[tuple[dict[str, Any], str]]:
    """Service-account keys held in Kubernetes Secrets (a tenant's credentialsSecretRef)."""
    for secret in secrets:
        meta = secret.get("metadata") or {}
        for key, value in (secret.get("data") or {}).items():
            try:
                data = json.loads(base64.b64decode(value))
            except (binascii.Error, UnicodeDecodeError, ValueError):
                continue
            if isinstance(data, dict) and data.get("private_key_id"):
                yield data, f"Secret {meta.get('namespace')}/{meta.get('name')} key {key}"


def operator_logs(root: Path) -> Iterable[tuple[str, str]]:
    """(where, text) of every operator log under `root` (the operator_factory's and the tests' own)."""
    for path in sorted(root.rglob("operator*.log")):
        yield str(path.relative_to(root)), path.read_text(errors="replace")
