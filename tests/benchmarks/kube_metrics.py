"""kube-apiserver's own request counter for siptrunks, read from its `/metrics`."""

from __future__ import annotations

import re
from collections import Counter

from siptrunk_operator.spec import PLURAL

WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "APPLY"})
_SAMPLE = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

RequestCounts = Counter[tuple[str, str]]
"""(verb, subresource) -> requests; subresource "" is the object itself, "status" its status."""


def siptrunk_requests(metrics_text: str) -> RequestCounts:
    """Sum `apiserver_request_total{resource="siptrunks"}` over codes, scopes and versions."""
    counts: RequestCounts = Counter()
    for line in metrics_text.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        labels = dict(_LABEL.findall(match["labels"]))
        if labels.get("resource") == PLURAL:
            counts[(labels.get("verb", ""), labels.get("subresource", ""))] += int(float(match["value"]))
    return counts


def writes_between(before: RequestCounts, after: RequestCounts) -> dict[str, int]:
    """Write requests on siptrunks between two readings: `object`, `status` and `total`."""
    delta = after - before
    objects = sum(n for (verb, sub), n in delta.items() if verb in WRITE_VERBS and sub == "")
    status = sum(n for (verb, sub), n in delta.items() if verb in WRITE_VERBS and sub == "status")
    return {"object": objects, "status": status, "total": objects + status}
