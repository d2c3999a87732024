"""The SipTrunk custom resource: spec as pydantic models (the CRD schema is checked against them)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from siptrunk_operator.models import CertFile, SipHostname, SipTrunk, TrunkName

GROUP = "dialogflow.siptrunk.dev"
VERSION = "v1beta1"
PLURAL = "siptrunks"
KIND = "SipTrunk"


class ManagementPolicy(enum.StrEnum):
    MANAGE = "Manage"
    OBSERVE_ONLY = "ObserveOnly"


class DeletionPolicy(enum.StrEnum):
    DELETE = "Delete"
    ABANDON = "Abandon"


@dataclass(frozen=True)
class Policy:
    """What the operator may do with the trunk, resolved once from the spec."""

    observe_only: bool = False
    """Never write to the API; mirror the trunk named by resourceID."""
    abandon: bool = False
    """Deleting the object leaves the trunk in the API."""
    recreate_if_missing: bool = False


class SecretKeyRef(BaseModel):
    """A key of a Secret in the object's own namespace."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    key: str = "credentials.json"


class SipTrunkSpec(BaseModel):
    """`spec` of a SipTrunk; aliases match the CRD's field names exactly."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    project_id: str = Field(alias="projectID")
    location: str = "global"
    display_name: str | None = Field(default=None, alias="displayName")
    expected_hostname: list[str] = Field(default_factory=list, alias="expectedHostname")
    peer_hostnames: list[str] | None = Field(default=None, alias="peerHostnames")
    google_root_cert_file: CertFile | None = Field(default=None, alias="googleRootCertFile")
    resource_id: str | None = Field(default=None, alias="resourceID")
    management_policy: ManagementPolicy = Field(default=ManagementPolicy.MANAGE, alias="managementPolicy")
    deletion_policy: DeletionPolicy = Field(default=DeletionPolicy.DELETE, alias="deletionPolicy")
    recreate_if_missing: bool = Field(default=False, alias="recreateIfMissing")
    credentials_secret_ref: SecretKeyRef | None = Field(default=None, alias="credentialsSecretRef")

    @classmethod
    def from_body(cls, spec: dict[str, Any] | Any) -> SipTrunkSpec:
        return cls.model_validate(dict(spec))

    @property
    def parent(self) -> str:
        return f"projects/{self.project_id}/locations/{self.location}"

    @property
    def observe_only(self) -> bool:
        return self.management_policy is ManagementPolicy.OBSERVE_ONLY

    def policy(self) -> Policy:
        observe_only = self.observe_only
        return Policy(observe_only=observe_only, abandon=observe_only or self.deletion_policy is DeletionPolicy.ABANDON,
                      recreate_if_missing=self.recreate_if_missing and not observe_only and not self.resource_id)

    def adopted_name(self) -> str | None:
        """The full resource name named by `resourceID` (an ID or a full name), if set.

        Raises ValueError when a full name points at another project or location.
        """
        if not self.resource_id:
            return None
        if "/" not in self.resource_id:
            return f"{self.parent}/sipTrunks/{self.resource_id}"
        name = TrunkName.parse(self.resource_id)
        if name.parent != self.parent:
            raise ValueError(
                f"resourceID {self.resource_id} is not under {self.parent} (spec.projectID/spec.location)"
            )
        return str(name)

    def desired_trunk(self, name: str | None = None) -> SipTrunk:
        """The API resource this spec asks for (no name on create: the server assigns it)."""
        return SipTrunk(
            name=name,
            expected_hostname=list(self.expected_hostname),
            display_name=self.display_name,
            peer_hostnames=(
                [SipHostname(peer_hostname=host) for host in self.peer_hostnames]
                if self.peer_hostnames is not None else None
            ),
            google_root_cert_file=self.google_root_cert_file,
        )
