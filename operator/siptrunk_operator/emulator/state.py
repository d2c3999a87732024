"""Everything one emulator instance holds; only its event loop touches it."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from siptrunk_operator.models import SipTrunk

from .config import EmulatorConfig
from .connections import trunk_view
from .errors import not_found
from .faults import FaultRegistry
from .hold import PendingCommits
from .iam import Iam
from .request_log import RequestLog
from .store import StoredTrunk, TrunkStore
from .wire import apply_update, parse_trunk, validate_trunk


@dataclass
class EmulatorState:
    config: EmulatorConfig
    store: TrunkStore
    iam: Iam
    faults: FaultRegistry = field(default_factory=FaultRegistry)
    log: RequestLog = field(default_factory=RequestLog)
    commits: PendingCommits = field(default_factory=PendingCommits)
    """Held writes not yet committed (``hold.py``)."""
    rng: random.Random = field(default_factory=random.Random)
    """Draws which writes are held."""
    clock: Callable[[], float] = time.time
    initial_config: EmulatorConfig | None = None

    @classmethod
    def create(cls, config: EmulatorConfig) -> EmulatorState:
        """Load persisted trunks (``state_file``) and identities (``iam_config``)."""
        store = TrunkStore(config.state_file)
        return cls(config=config, store=store, iam=_load_iam(config), initial_config=config.model_copy())

    def view(self, stored: StoredTrunk) -> SipTrunk:
        return trunk_view(stored, self.config.connect_after, self.clock())

    def existing(self, name: str) -> StoredTrunk:
        stored = self.store.get(name)
        if stored is None:
            raise not_found(name)
        return stored

    def patch_trunk(self, name: str, body: dict[str, Any], mask: set[str] | None) -> StoredTrunk:
        """Apply an update body; ``mask`` ``None`` means "the populated fields" (AIP-134).

        The request is validated before the lookup (400 before 404), the result after it.
        """
        patch, populated = parse_trunk(body)
        stored = self.existing(name)
        updated = apply_update(stored.trunk, patch, populated if mask is None else mask)
        validate_trunk(updated, require_peer_hostnames=self.config.require_peer_hostnames)
        return self.store.replace(stored, updated, self.clock())

    def reset(self) -> None:
        """Back to a fresh start: no trunks (the state file is emptied too), faults, log entries or
        issued tokens; the start-up settings; only the identities from ``iam_config``.
        """
        self.store.clear()
        self.faults.clear()
        self.log.clear()
        if self.initial_config is not None:
            for key, value in self.initial_config.model_dump().items():
                setattr(self.config, key, value)
        self.iam = _load_iam(self.config)


def _load_iam(config: EmulatorConfig) -> Iam:
    iam = Iam()
    if config.iam_config is not None:
        iam.load_file(config.iam_config)
    return iam


STATE_KEY = web.AppKey("emulator_state", EmulatorState)
