"""The operator's vocabulary: condition types, condition reasons and Event reasons."""

from __future__ import annotations

import enum


class ConditionType(enum.StrEnum):
    READY = "Ready"
    SYNCED = "Synced"
    CONNECTED = "Connected"
    CERTIFICATES_VALID = "CertificatesValid"
    RECONCILING = "Reconciling"
    STALLED = "Stalled"


class Reason(enum.StrEnum):
    """Condition reasons. The failure reasons double as Warning Event reasons."""

    UP_TO_DATE = "UpToDate"
    OBSERVED = "Observed"
    SYNCED = "Synced"
    PROGRESSING = "Progressing"
    CREATING = "Creating"
    CREATE_PENDING = "CreatePending"
    DRIFTED = "Drifted"
    NOT_FOUND_IN_API = "NotFoundInAPI"
    CONFLICT = "Conflict"
    CREATE_OUTCOME_UNKNOWN = "CreateOutcomeUnknown"
    EXISTING_TRUNK_FOUND = "ExistingTrunkFound"
    INVALID_SPEC = "InvalidSpec"
    PERMISSION_DENIED = "PermissionDenied"
    FORBIDDEN = "Forbidden"
    CREDENTIALS_UNAVAILABLE = "CredentialsUnavailable"
    RATE_LIMITED = "RateLimited"
    API_UNAVAILABLE = "APIUnavailable"
    OUTCOME_UNKNOWN = "OutcomeUnknown"
    LIST_FAILED = "ListFailed"
    KUBERNETES_API_ERROR = "KubernetesAPIError"
    WAITING_FOR_LISTING = "WaitingForListing"
    CONNECTED = "Connected"
    DISCONNECTED = "Disconnected"
    NO_CONNECTIONS = "NoConnections"
    NO_CERTIFICATE_ERRORS = "NoCertificateErrors"


STALLED_REASONS = frozenset({
    Reason.INVALID_SPEC, Reason.PERMISSION_DENIED, Reason.CONFLICT, Reason.NOT_FOUND_IN_API, Reason.FORBIDDEN,
    Reason.CREDENTIALS_UNAVAILABLE,
    Reason.CREATE_OUTCOME_UNKNOWN, Reason.EXISTING_TRUNK_FOUND,
})
"""Reasons that need a person: retrying alone will not fix them."""


class EventReason(enum.StrEnum):
    CREATED = "Created"
    RECREATED = "Recreated"
    ADOPTED = "Adopted"
    RECOVERED = "Recovered"
    UPDATED = "Updated"
    DRIFT_REVERTED = "DriftReverted"
    DELETED = "Deleted"
    ABANDONED = "Abandoned"
    CONNECTION_HEALTHY = "ConnectionHealthy"
    CONNECTION_UNHEALTHY = "ConnectionUnhealthy"
