"""Operator tunables, from `SIPTRUNK_*` environment variables (documented in the README)."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, Field, model_validator

FINALIZER = "dialogflow.siptrunk.dev/finalizer"
ANNOTATION_PREFIX = "dialogflow.siptrunk.dev"


class OperatorSettings(BaseModel):
    workers: int = Field(
        default=16, ge=1, le=256, description="Objects reconciled at the same time (the engine's worker pool)."
    )
    refresh_fast_seconds: float = Field(
        default=10.0, gt=0,
        description="List interval for a (project, location) for 30 s after the operator wrote one of its trunks.",
    )
    refresh_slow_seconds: float = Field(
        default=40.0, gt=0, description="List interval for a (project, location) whose trunks are all settled."
    )
    resync_seconds: float = Field(
        default=600.0, gt=0, description="Mean interval between drift corrections (jittered ±25%)."
    )
    min_resync_seconds: float = Field(default=60.0, gt=0, description="Lower bound for the annotation.")
    max_resync_seconds: float = Field(default=86400.0, gt=0, description="Upper bound for the annotation.")
    error_retry_seconds: float = Field(
        default=30.0, gt=0, description="Delay before retrying after a transient API error."
    )
    invalid_spec_retry_seconds: float = Field(
        default=900.0, gt=0, description="Delay before retrying a spec the API rejected (400): 8 calls an hour at most."
    )
    permission_retry_seconds: float = Field(
        default=120.0, gt=0, description="Delay before retrying after 401/403 (an IAM fix takes effect)."
    )
    tenancy: Literal["optional", "required"] = Field(
        default="optional",
        description="`required`: with no SipTrunkTenancy, no namespace may use any project (fail closed); "
                    "`optional`: with none, the operator is single-tenant.",
    )
    create_deadline_seconds: float = Field(
        default=60.0, gt=0,
        description="Hard deadline of a create, counted from its pending marker: no attempt is sent after it, "
                    "and it is the server-side timeout sent with the request (Google's service config for "
                    "sipTrunks says 60 s).",
    )
    create_settle_margin_seconds: float = Field(
        default=30.0, ge=0,
        description="Added to the create deadline before an interrupted create is judged (list, then adopt or "
                    "create again): covers a server finishing a request it received, and clock skew between "
                    "operator replicas.",
    )

    @model_validator(mode="after")
    def _bounds(self) -> OperatorSettings:
        if self.min_resync_seconds > self.max_resync_seconds:
            raise ValueError("SIPTRUNK_MIN_RESYNC_SECONDS must not exceed SIPTRUNK_MAX_RESYNC_SECONDS")
        return self

    @classmethod
    def from_env(cls) -> OperatorSettings:
        values = {
            name: os.environ[f"SIPTRUNK_{name.upper()}"]
            for name in cls.model_fields
            if f"SIPTRUNK_{name.upper()}" in os.environ
        }
        return cls.model_validate(values)
