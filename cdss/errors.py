"""One error shape from one place: {"error": {"code", "message", "fields"}}, mapped to statuses by type."""
import json
import logging
import os
import signal

from flask import jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from cdss.engine import EngineCapacityError, EngineError
from cdss.storage import StorageError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error the API answers with its own status and code."""

    status = 400
    code = "invalid_request"
    headers = {}  # e.g. Retry-After on a 503

    def __init__(self, message, fields=None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class InvalidInputError(ApiError):
    """The body is JSON but not a valid patient context."""

    code = "invalid_input"


class MalformedJsonError(ApiError):
    """The body is not parseable JSON."""

    code = "malformed_json"


class UnsupportedMediaTypeError(ApiError):
    """The body is not declared as JSON."""

    status = 415
    code = "unsupported_media_type"


class NotFoundError(ApiError):
    """A resource that does not exist."""

    status = 404
    code = "not_found"


def flatten(messages, prefix=""):
    """marshmallow's nested messages as {"labs.ferritin.unit": ["..."]}."""
    if isinstance(messages, list) and all(isinstance(item, str) for item in messages):
        return {prefix or "_body": messages}
    if isinstance(messages, list):
        messages = dict(enumerate(messages))
    flat = {}
    for key, value in messages.items():
        name = str(key) if key != "_schema" else ""
        path = ".".join(part for part in (prefix, name) if part)
        if isinstance(value, str):
            flat.setdefault(path or "_body", []).append(value)
        else:
            for field, errors in flatten(value, path).items():
                flat.setdefault(field, []).extend(errors)
    return flat


def error_response(status, code, message, fields=None):
    """The JSON error body and status."""
    body = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return jsonify(error=body), status


def write_server_error(sock, status, reason, detail):
    """gunicorn's own answer to a request it could not parse (400, 414, 431, ...), in the one error shape."""
    from gunicorn import util  # noqa: PLC0415 - only under gunicorn

    body = json.dumps({"error": {"code": reason.lower().replace(" ", "_"),
                                 "message": f"{reason}: {detail[:200]}" if detail else reason}}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nX-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n\r\n")
    util.write_nonblock(sock, head.encode("latin-1") + body)


def answer_server_errors_in_json():
    """Make gunicorn's workers (sync or gevent: both call util.write_error) answer in JSON; call in on_starting."""
    from gunicorn import util  # noqa: PLC0415

    util.write_error = write_server_error


def init_app(app):
    """Register the error handlers: API errors, HTTP errors, engine failures, anything else."""

    @app.errorhandler(ApiError)
    def handle_api_error(error):
        response, status = error_response(error.status, error.code, error.message, error.fields)
        response.headers.update(error.headers)
        return response, status

    @app.errorhandler(RequestEntityTooLarge)
    def handle_too_large(error):
        limit = request.max_content_length  # this route's limit: CDS Hooks calls have a larger one
        return error_response(413, "request_entity_too_large", f"the body is larger than the {limit}-byte limit",
                              {"_body": [f"more than {limit} bytes"]})

    @app.errorhandler(HTTPException)
    def handle_http_error(error):
        code = (error.name or "error").lower().replace(" ", "_")
        response, status = error_response(error.code or 500, code, error.description or error.name)
        if error.code == 405 and getattr(error, "valid_methods", None):
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response, status

    @app.errorhandler(EngineCapacityError)
    def handle_capacity(error):
        # The engine's state table is full (1,024 live sessions): this process cannot recover it.
        # Under gunicorn, answer 503 and let the worker exit; the master starts a fresh one.
        log.error("rules engine session table full; recycling this worker")
        response, status = error_response(503, "engine_capacity", "the service is at capacity; retry shortly")
        response.headers["Retry-After"] = "1"
        if request.environ.get("SERVER_SOFTWARE", "").startswith("gunicorn"):
            response.call_on_close(lambda: os.kill(os.getpid(), signal.SIGTERM))
        return response, status

    @app.errorhandler(EngineError)
    def handle_engine_error(error):
        log.error("rules engine failure: %s", type(error).__name__)
        return error_response(500, "evaluation_failed",
                              "the rules could not be evaluated; no advice was produced")

    @app.errorhandler(StorageError)
    def handle_storage(error):
        # the database failed or passed its timeout (cdss/storage.py): a retryable 503, never a frozen worker
        response, status = error_response(503, "storage_unavailable", "the database is unavailable; retry shortly")
        response.headers["Retry-After"] = "5"
        return response, status

    @app.errorhandler(Exception)
    def handle_unexpected(error):
        log.exception("unhandled error")
        return error_response(500, "internal_error", "internal error")
