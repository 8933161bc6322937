"""The CDS Hooks failures, in the project's one error shape, mapped to statuses by type."""
from cdss.errors import ApiError


class PrefetchUnavailableError(ApiError):
    """Data the service needs was neither prefetched nor readable on the FHIR server (spec: 412)."""

    status = 412
    code = "precondition_failed"


class HookAuthError(ApiError):
    """The caller is not a trusted CDS client. The reason is logged, never sent (best practice: 401)."""

    status = 401
    code = "unauthorized"

    def __init__(self, reason):
        super().__init__("unauthorized")
        self.reason = reason


class FeedbackNotStoredError(ApiError):
    """Feedback could not be written: the client must know, so it can send it again."""

    status = 503
    code = "feedback_not_stored"
