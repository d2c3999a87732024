"""Leader election on a coordination.k8s.io Lease, with the `kubernetes` client's `leaderelection`.

The client's elector is synchronous: it runs in a daemon thread beside asyncio and hands the
outcome to the event loop. Only the leader reconciles; a standby keeps its watch (and registry)
warm and starts its workers the moment it acquires the Lease. A leader that fails to renew within
the renew deadline exits the process at once, as controller-runtime does: it must stop writing
before a standby may take over (the Lease expires one lease duration after its last renewal).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.config.config_exception import ConfigException
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock
from pydantic import BaseModel, Field, model_validator

_LOG = logging.getLogger(__name__)
logging.getLogger("leaderelection").setLevel(logging.WARNING)  # it logs every retry period at INFO


class LeaderSettings(BaseModel):
    """`SIPTRUNK_LEASE_*`; the defaults are controller-runtime's."""

    lease_name: str = "siptrunk-operator"
    lease_namespace: str = Field(default_factory=lambda: os.environ.get("POD_NAMESPACE", "siptrunk-operator"))
    lease_duration_seconds: int = Field(default=15, ge=2)
    renew_deadline_seconds: int = Field(default=10, ge=2)
    retry_period_seconds: int = Field(default=2, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> LeaderSettings:
        # The client's own checks (which call sys.exit): duration > deadline > 1.2 x retry period.
        if self.lease_duration_seconds <= self.renew_deadline_seconds:
            raise ValueError("SIPTRUNK_LEASE_DURATION_SECONDS must exceed SIPTRUNK_LEASE_RENEW_DEADLINE_SECONDS")
        if self.renew_deadline_seconds <= 1.2 * self.retry_period_seconds:
            raise ValueError("SIPTRUNK_LEASE_RENEW_DEADLINE_SECONDS must exceed 1.2 x "
                             "SIPTRUNK_LEASE_RETRY_PERIOD_SECONDS")
        return self

    @classmethod
    def from_env(cls) -> LeaderSettings:
        names = {"lease_name": "SIPTRUNK_LEASE_NAME", "lease_namespace": "SIPTRUNK_LEASE_NAMESPACE",
                 "lease_duration_seconds": "SIPTRUNK_LEASE_DURATION_SECONDS",
                 "renew_deadline_seconds": "SIPTRUNK_LEASE_RENEW_DEADLINE_SECONDS",
                 "retry_period_seconds": "SIPTRUNK_LEASE_RETRY_PERIOD_SECONDS"}
        return cls.model_validate({field: os.environ[var] for field, var in names.items() if os.environ.get(var)})


def candidate_identity() -> str:
    """Unique per process: the pod name (hostname) plus a random suffix, as client-go does."""
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:8]}"


def _lease_api() -> k8s.CoordinationV1Api:
    configuration = k8s.Configuration()
    try:
        k8s_config.load_incluster_config(client_configuration=configuration)
    except ConfigException:
        k8s_config.load_kube_config(client_configuration=configuration)
    return k8s.CoordinationV1Api(k8s.ApiClient(configuration))


class _Timed:
    """Every Lease call with a request timeout: a black-holed connection must not outlast the renew
    deadline (the client's calls have none by default)."""

    def __init__(self, api: Any, seconds: float) -> None:
        self._api, self._seconds = api, seconds

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._api, name)
        return functools.partial(attribute, _request_timeout=self._seconds) if callable(attribute) else attribute


class _SafeLock:
    """The client's Lease lock catches only ApiException: a connection error (an API server restart)
    would kill the election thread while the process keeps reconciling. Any failure is a failed try."""

    def __init__(self, lock: Any) -> None:
        self._lock = lock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lock, name)

    def get(self, name: str, namespace: str) -> tuple[bool, Any]:
        try:
            found: tuple[bool, Any] = self._lock.get(name, namespace)
        except Exception as err:
            _LOG.warning("reading the Lease failed: %s", type(err).__name__)
            return False, err
        return found

    def create(self, name: str, namespace: str, election_record: Any) -> bool:
        return self._tried("creating", lambda: self._lock.create(name, namespace, election_record))

    def update(self, name: str, namespace: str, updated_record: Any) -> bool:
        return self._tried("renewing", lambda: self._lock.update(name, namespace, updated_record))

    def _tried(self, what: str, call: Callable[[], Any]) -> bool:
        try:
            return bool(call())
        except Exception as err:
            _LOG.warning("%s the Lease failed: %s", what, type(err).__name__)
            return False


def _exit_now() -> None:
    logging.shutdown()
    os._exit(1)


class LeaderElector:
    """Runs the election in a thread; `leading` is set (in the event loop) once this process leads."""

    def __init__(self, settings: LeaderSettings, *, identity: str | None = None,
                 on_lost: Callable[[], None] = _exit_now) -> None:
        self.settings, self.identity, self._on_lost = settings, identity or candidate_identity(), on_lost
        self.leading = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def alive(self) -> bool:
        """The election thread runs (the liveness probe fails otherwise)."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        lock = LeaseLock(self.settings.lease_name, self.settings.lease_namespace, self.identity)
        lock.api_instance = _Timed(_lease_api(), max(1.0, self.settings.retry_period_seconds))
        config = electionconfig.Config(
            _SafeLock(lock), lease_duration=self.settings.lease_duration_seconds,
            renew_deadline=self.settings.renew_deadline_seconds, retry_period=self.settings.retry_period_seconds,
            onstarted_leading=self._started, onstopped_leading=self._stopped,
        )
        _LOG.info("leader election on Lease %s/%s as %s", self.settings.lease_namespace, self.settings.lease_name,
                  self.identity)
        election = leaderelection.LeaderElection(config)
        self._thread = threading.Thread(target=self._run, args=(election,), name="leader-election", daemon=True)
        self._thread.start()

    def _run(self, election: Any) -> None:
        """If the election ever ends (lost Lease, or an error the client did not expect), this
        process must stop: as leader it may no longer write, as standby it could never take over."""
        try:
            election.run()
        except BaseException:
            _LOG.exception("leader election failed")
        finally:
            self._stopped()

    def _started(self) -> None:
        _LOG.info("acquired the Lease: this process now reconciles", extra={"leader": self.identity})
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self.leading.set)

    def _stopped(self) -> None:
        _LOG.critical("lost the Lease (not renewed within %d s): exiting so that nothing more is written",
                      self.settings.renew_deadline_seconds)
        self._on_lost()
