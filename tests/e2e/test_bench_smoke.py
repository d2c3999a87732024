"""`make bench` in miniature: the benchmark runs end to end, and the counts a user pays for hold.
Times are printed by `make bench`, never asserted."""

from __future__ import annotations

import pytest

from tests.benchmarks.burst import BenchOptions, run_benchmark

pytestmark = pytest.mark.e2e


def test_a_small_burst_costs_one_create_and_two_events_per_trunk() -> None:
    result = run_benchmark(BenchOptions.smoke())
    (run,) = result["runs"]
    calls = run["api_calls_per_trunk"]
    assert calls.get("POST") == 1.0, calls  # exactly one create per trunk
    assert calls.get("GET", 0.0) == 0.0 and calls.get("PATCH", 0.0) == 0.0, calls  # no read-back, no patch
    assert calls.get("LIST", 0.0) <= 1.0, calls  # creates share listings
    events = run["events_per_trunk"]
    assert events.get("Created") == 1.0 and events.get("ConnectionHealthy") == 1.0, events
    assert sum(events.values()) == 2.0, events
    writes = run["kube_writes_per_trunk"]
    assert writes["object"] == 2.0, writes  # the pending marker (with the finalizer), then the name
    assert 1.0 <= writes["status"] <= 2.0, writes
    assert run["request_log_complete"]
    assert not [code for code in run["api_statuses_settled"] if not code.startswith("2")], run["api_statuses_settled"]
