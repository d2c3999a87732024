"""Structured logging: JSON lines on stderr, with the object reference on per-object records."""

from __future__ import annotations

import logging

import kopf

_ROUTINE = ("Handler 'trunk_event' succeeded.", "Handler 'trunk_claims' succeeded.")


class _DropRoutine(logging.Filter):
    """kopf logs every watch event's handler at INFO; at thousands of objects that drowns everything else."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno <= logging.INFO and record.getMessage() in _ROUTINE)


def configure_json_logging(*, verbose: bool = False) -> None:
    kopf.configure(verbose=verbose, log_format=kopf.LogFormat.JSON, log_refkey="object")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_DropRoutine())
    # httpx logs full request URLs at INFO; keep them out of the operator's log unless debugging.
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbose else logging.WARNING)
