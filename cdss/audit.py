"""The audit trail: every evaluation is recorded; a failure to record is logged and counted, not hidden."""
import json
import logging

from flask import current_app

from cdss.storage import StorageError, patient_hash

log = logging.getLogger(__name__)


def record_evaluation(result, source, context):
    """Record one evaluation; the answer is never withheld because the audit write failed."""
    extensions = current_app.extensions
    patient_id = context.get("patient", {}).get("id")
    payload = context_payload(context) if current_app.config["AUDIT_PAYLOADS"] else None
    try:
        extensions["cdss.store"].record_evaluation(
            result, source, patient_hash(extensions["cdss.salt"], patient_id), payload)
        return True
    except StorageError as error:
        extensions["cdss.metrics"]["audit_failures"] += 1
        log.error("audit record not stored for evaluation %s: %s", result["evaluation_id"], error)
        return False


def context_payload(context):
    """The clinical payload as JSON-safe data (only when AUDIT_PAYLOADS asks for it)."""
    return json.loads(json.dumps(context, default=str))
