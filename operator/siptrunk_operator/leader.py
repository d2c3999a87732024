"""Leader election on a coordination.k8s.io Lease, with the `kubernetes` client's `leaderelection`.

The client's elector is synchronous: it runs in a daemon thread beside asyncio and hands the
outcome to the event loop. Only the leader reconciles; a standby keeps its watch (and registry)
warm and starts its workers the moment it acquires the Lease. A leader that fails to renew within
the renew deadline exits the process at once, as controller-runtime does: it must stop writing
before a standby may take over (the Lease expires one lease duration after its last renewal).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable

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

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        lock = LeaseLock(self.settings.lease_name, self.settings.lease_namespace, self.identity)
        lock.api_instance = _lease_api()
        config = electionconfig.Config(
            lock, lease_duration=self.settings.lease_duration_seconds,
            renew_deadline=self.settings.renew_deadline_seconds, retry_period=self.settings.retry_period_seconds,
            onstarted_leading=self._started, onstopped_leading=self._stopped,
        )
        _LOG.info("leader election on Lease %s/%s as %s", self.settings.lease_namespace, self.settings.lease_name,
                  self.identity)
        thread = threading.Thread(target=leaderelection.LeaderElection(config).run, name="leader-election",
                                  daemon=True)
        thread.start()

    def _started(self) -> None:
        _LOG.info("acquired the Lease: this process now reconciles", extra={"leader": self.identity})
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self.leading.set)

    def _stopped(self) -> None:
        _LOG.critical("lost the Lease (not renewed within %d s): exiting so that nothing more is written",
                      self.settings.renew_deadline_seconds)
        self._on_lost()
