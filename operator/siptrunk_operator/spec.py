"""The SipTrunk custom resource: spec as pydantic models (the CRD schema is checked against them)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

GROUP = "dialogflow.siptrunk.dev"
VERSION = "v1beta1"
PLURAL = "siptrunks"
KIND = "SipTrunk"


class SipTrunkSpec(BaseModel):
    """`spec` of a SipTrunk; field names match the CRD exactly."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    project_id: str = Field(alias="projectID")
    location: str = "global"
    display_name: str | None = Field(default=None, alias="displayName")
    expected_hostname: list[str] = Field(alias="expectedHostname", min_length=1)

    @classmethod
    def from_body(cls, spec: dict[str, Any] | Any) -> SipTrunkSpec:
        return cls.model_validate(dict(spec))

    @property
    def parent(self) -> str:
        return f"projects/{self.project_id}/locations/{self.location}"
