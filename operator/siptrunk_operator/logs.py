"""Structured logging: JSON lines on stderr, with the object reference on per-object records."""

from __future__ import annotations

import contextvars
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import kopf

from siptrunk_operator.api.errors import scrub

_RECONCILE_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("reconcile_id", default=None)


@contextmanager
def reconcile_scope() -> Iterator[str]:
    """Every log record of one reconcile pass (the client's retries included) carries its ID."""
    token = _RECONCILE_ID.set(uuid.uuid4().hex[:12])
    try:
        yield str(_RECONCILE_ID.get())
    finally:
        _RECONCILE_ID.reset(token)


class _ReconcileId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        current = _RECONCILE_ID.get()
        if current is not None:
            record.reconcile_id = current
        return True

_ROUTINE = tuple(f"Handler '{name}' succeeded." for name in (
    "trunk_event", "trunk_claims", "tenancy_event", "tenancy_rules", "namespace_labels"))


class _DropRoutine(logging.Filter):
    """kopf logs every watch event's handler at INFO; at thousands of objects that drowns everything else."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno <= logging.INFO and record.getMessage() in _ROUTINE)


class _Scrubbed(logging.Formatter):
    """Every line leaves through `scrub`: a token, JWT or key in any message, argument, extra field
    or traceback is blanked, whichever library logged it."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self._inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        return scrub(self._inner.format(record))


def configure_logging(*, verbose: bool = False, text: bool = False) -> None:
    """JSON lines with the object reference under `object` (text with `text=True`, for humans)."""
    kopf.configure(verbose=verbose, log_format=kopf.LogFormat.FULL if text else kopf.LogFormat.JSON,
                   log_refkey="object")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_DropRoutine())
        handler.addFilter(_ReconcileId())
        handler.setFormatter(_Scrubbed(handler.formatter))
    # httpx logs full request URLs at INFO; keep them out of the operator's log unless debugging.
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbose else logging.WARNING)
