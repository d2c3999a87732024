"""Fault injection: rules that match API calls by HTTP method and path regex.

Actions: ``error`` (answer a Google-shaped error with ``status`` instead of processing),
``latency`` (sleep ``latency`` seconds, then go on), ``reset`` (drop the connection before doing
anything) and ``lost_response`` (process and commit, then drop the connection unanswered).
A rule applies to its next ``times`` matching calls (``None``: forever), each with ``probability``.
For one request, every matching ``latency`` rule adds its delay and the first other matching rule
is applied; rules are tried in the order they were added, except that ``first`` puts a rule before
all the others (a quota burst that must win over a standing 503 rate). The path regex is searched
in the URL path (``re.search``, query excluded). Rules never touch the control endpoint, nor
``/token`` unless their ``path`` regex itself matches ``/token``.
"""

from __future__ import annotations

import random
import re
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from . import errors
from .routing import Call

FaultAction = Literal["error", "latency", "reset", "lost_response"]
TOKEN_PATH = "/token"


class FaultSpec(BaseModel):
    """The body of ``POST /_emulator/faults``."""

    model_config = ConfigDict(extra="forbid")

    method: str | None = None
    path: str | None = None
    action: FaultAction = "error"
    status: int = Field(default=503, ge=400, le=599)
    retry_delay: float | None = Field(default=None, ge=0)
    latency: float = Field(default=0.0, ge=0)
    times: int | None = Field(default=None, ge=1)
    probability: float = Field(default=1.0, ge=0, le=1)
    message: str | None = None
    reason: str | None = None
    first: bool = False

    @field_validator("path")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid path regex: {exc}") from None
        return value

    @field_validator("method")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value else None


@dataclass
class Fault:
    id: str
    spec: FaultSpec
    remaining: int | None
    hits: int = 0
    pattern: re.Pattern[str] | None = field(default=None, repr=False)

    def matches(self, method: str, path: str) -> bool:
        if self.spec.method is not None and self.spec.method != method.upper():
            return False
        if path == TOKEN_PATH and self.spec.path is None:
            return False
        return self.pattern is None or self.pattern.search(path) is not None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, **self.spec.model_dump(), "remaining": self.remaining, "hits": self.hits}


class FaultRegistry:
    def __init__(self, rng: random.Random | None = None) -> None:
        self._faults: list[Fault] = []
        self._rng = rng or random.Random()

    def add(self, spec: FaultSpec) -> Fault:
        pattern = re.compile(spec.path) if spec.path is not None else None
        fault = Fault("fault-" + secrets.token_hex(4), spec, spec.times, pattern=pattern)
        self._faults.insert(0 if spec.first else len(self._faults), fault)
        return fault

    def remove(self, fault_id: str) -> bool:
        before = len(self._faults)
        self._faults = [f for f in self._faults if f.id != fault_id]
        return len(self._faults) != before

    def clear(self) -> None:
        self._faults.clear()

    def all(self) -> list[Fault]:
        return list(self._faults)

    def pick(self, method: str, path: str) -> tuple[list[Fault], Fault | None]:
        """The latency faults and the (at most one) other fault this request triggers; consumes them."""
        delays: list[Fault] = []
        for fault in list(self._faults):
            if not fault.matches(method, path) or self._rng.random() >= fault.spec.probability:
                continue
            self._consume(fault)
            if fault.spec.action != "latency":
                return delays, fault
            delays.append(fault)
        return delays, None

    def _consume(self, fault: Fault) -> None:
        fault.hits += 1
        if fault.remaining is not None:
            fault.remaining -= 1
            if fault.remaining == 0:
                self._faults.remove(fault)


def fault_error(spec: FaultSpec, call: Call | None) -> errors.ApiError:
    """The Google-shaped error an ``error`` fault answers for ``call`` (if the path is an API call)."""
    status = spec.status
    if status == 429:
        error = errors.quota_exceeded(call.project if call else None, spec.retry_delay)
    elif status == 503:
        error = errors.unavailable(spec.retry_delay)
    elif status == 500:
        error = errors.internal()
    elif status == 403 and call is not None:
        error = errors.permission_denied(call.method.permission, call.resource)
    else:
        name = errors.status_for_code(status)
        error = errors.ApiError(status, f"Injected fault: {name}.", reason=name, retry_delay=spec.retry_delay)
    if spec.message is not None:
        error.message = spec.message
    if spec.reason is not None:
        error.reason = spec.reason
    return error
