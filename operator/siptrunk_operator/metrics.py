"""Prometheus metrics (prometheus-client), served on `/metrics`.

Counters and histograms are bumped where things happen (the API client, the rate limiter, the
reconcile loop). Gauges about objects are computed at scrape time from the engine's own state, so
there is no second bookkeeping to drift. Labels are bounded: methods, HTTP codes, enum reasons,
condition states and (project, location) pairs; never a trunk or object name, never a secret.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client import Counter as PromCounter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry()
"""The operator's own registry: its series only (plus the process collector when served)."""

RECONCILES = PromCounter("siptrunk_reconciles", "Reconcile passes by result and reason.", ["result", "reason"],
                         registry=REGISTRY)
API_REQUESTS = PromCounter("siptrunk_api_requests", "sipTrunks API requests by HTTP method and code "
                           "(code 0: no answer, e.g. a connection reset).", ["method", "code"], registry=REGISTRY)
API_LATENCY = Histogram("siptrunk_api_request_duration_seconds", "sipTrunks API request latency.", ["method"],
                        buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=REGISTRY)
RATE_LIMIT_WAITS = PromCounter("siptrunk_rate_limiter_waits", "Requests that had to wait for the client-side "
                               "quota.", ["priority"], registry=REGISTRY)
RATE_LIMIT_WAIT_SECONDS = Histogram("siptrunk_rate_limiter_wait_seconds", "Time spent waiting for the "
                                    "client-side quota.", ["priority"],
                                    buckets=(0.1, 0.5, 1, 5, 15, 30, 60, 120, 300), registry=REGISTRY)

TRACKED_CONDITIONS = ("Ready", "Synced", "Connected", "CertificatesValid", "Reconciling", "Stalled")


def condition_counts(statuses: Iterable[Mapping[str, Any]]) -> Counter[tuple[str, str]]:
    """(condition type, status) -> number of objects, over the objects' stored status."""
    counts: Counter[tuple[str, str]] = Counter()
    for status in statuses:
        for condition in status.get("conditions") or []:
            kind = condition.get("type")
            if kind in TRACKED_CONDITIONS:
                counts[(str(kind), str(condition.get("status", "Unknown")))] += 1
    return counts


def connection_counts(statuses: Iterable[Mapping[str, Any]]) -> Counter[tuple[str, str]]:
    """(connection state, certificate state) -> number of connections mirrored into status."""
    counts: Counter[tuple[str, str]] = Counter()
    for status in statuses:
        for connection in status.get("connections") or []:
            certificate = (connection.get("errorDetails") or {}).get("certificateState")
            state = connection.get("state") or "STATE_UNSPECIFIED"
            counts[(str(state), str(certificate or "CERTIFICATE_STATE_UNSPECIFIED"))] += 1
    return counts


class EngineCollector(Collector):
    """Gauges read from the engine at scrape time."""

    def __init__(self, statuses: Callable[[], list[Mapping[str, Any]]],
                 listing_ages: Callable[[], Mapping[tuple[str, str], float]], leading: Callable[[], bool]) -> None:
        self._statuses, self._ages, self._leading = statuses, listing_ages, leading

    def collect(self) -> Iterator[Metric]:
        statuses = self._statuses()
        trunks = GaugeMetricFamily("siptrunk_trunks", "SipTrunk objects by condition and status.",
                                   labels=["condition", "status"])
        for (kind, state), count in sorted(condition_counts(statuses).items()):
            trunks.add_metric([kind, state], count)
        yield trunks
        connections = GaugeMetricFamily("siptrunk_connections", "Connections by state and certificate state.",
                                        labels=["state", "certificate_state"])
        for (state, certificate), count in sorted(connection_counts(statuses).items()):
            connections.add_metric([state, certificate], count)
        yield connections
        ages = GaugeMetricFamily("siptrunk_list_refresh_age_seconds", "Seconds since the last complete listing "
                                 "of a (project, location).", labels=["project", "location"])
        for (project, location), age in sorted(self._ages().items()):
            ages.add_metric([project, location], age)
        yield ages
        yield GaugeMetricFamily("siptrunk_leader", "1 while this process holds the Lease (or runs without "
                                "leader election) and reconciles.", value=1 if self._leading() else 0)
