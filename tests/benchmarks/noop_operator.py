"""A kopf operator that watches SipTrunks and does nothing: the floor for the operator's memory.

Run: `kopf run --standalone --all-namespaces tests/benchmarks/noop_operator.py`.
"""

from __future__ import annotations

from typing import Any

import kopf


@kopf.on.event("dialogflow.siptrunk.dev", "v1beta1", "siptrunks")
def noop(**_: Any) -> None:
    """Nothing: kopf still lists, watches and keeps every object."""
