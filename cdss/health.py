"""Liveness and readiness for the load balancer: /healthz (the process answers), /readyz (it can serve).

Ready means: rules loaded, the engine has sessions left, the instance is not draining, and an audit
record can be kept now (a database write commits, or else the outbox takes a synced write). A
database outage alone is reported but keeps the instance ready while the outbox takes the records:
taking every instance out of rotation because the shared database is down would stop all advice.
"""
import os

from flask import Blueprint, current_app
from marshmallow import Schema, fields

from cdss.openapi import documented

bp = Blueprint("health", __name__)


class LivenessSchema(Schema):
    status = fields.String(required=True, metadata={"enum": ["ok"]})


class AuditCountsSchema(Schema):
    database = fields.Integer(metadata={"description": "records written to the database"})
    outboxed = fields.Integer(metadata={"description": "records kept in the outbox (database write failed)"})
    refused = fields.Integer(metadata={"description": "evaluations refused (503): no audit record could be kept"})
    unaudited = fields.Integer(metadata={"description": "evaluations answered without a record (fail-open only)"})


class InstanceAuditSchema(Schema):
    audit_database = fields.Integer()
    audit_outboxed = fields.Integer()
    audit_replayed = fields.Integer(metadata={"description": "outbox records since stored in the database"})
    audit_refused = fields.Integer()
    audit_unaudited = fields.Integer()
    database_failures = fields.Integer()
    outbox_failures = fields.Integer()


class AuditFiguresSchema(Schema):
    pid = fields.Integer(required=True, metadata={"description": "the worker process that answered"})
    process = fields.Nested(AuditCountsSchema, required=True, metadata={"description": "this worker, since it started"})
    instance = fields.Nested(InstanceAuditSchema, required=True, metadata={
        "description": "every worker of the instance, kept across worker restarts (instance/audit-counters)"})
    outbox_depth = fields.Integer(required=True, metadata={"description": "records waiting in the outbox"})


class ReadinessSchema(Schema):
    status = fields.String(required=True, metadata={"enum": ["ready", "not_ready"]})
    checks = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                         metadata={"description": "each check: ok or the reason it failed; database and outbox "
                                                  "inform, audit (either of them) decides"})
    rules = fields.Integer(required=True, metadata={"description": "number of rules loaded"})
    engine_sessions = fields.Integer(required=True,
                                     metadata={"description": "live rule-engine sessions in this worker (0 when idle)"})
    audit = fields.Nested(AuditFiguresSchema, required=True)
    reused_results = fields.Integer(required=True, metadata={
        "description": "evaluations this worker answered with a recent result for an identical context"})


@bp.get("/healthz")
@documented(summary="Liveness: the process answers", response=LivenessSchema, tags=("operations",),
            response_examples={"alive": {"status": "ok"}})
def healthz():
    """The process is alive and answers HTTP; says nothing about its dependencies."""
    return LivenessSchema().dump({"status": "ok"})


DECIDING = ("rules", "engine", "audit", "serving")


def draining():
    """Whether the server is shutting down (gunicorn.conf.py creates this flag file on SIGTERM)."""
    flag = os.environ.get("CDSS_DRAIN_FLAG")
    return bool(flag) and os.path.exists(flag)


def readiness_checks(app):
    """Each readiness check by name: 'ok' or why it fails."""
    evaluator = app.extensions.get("cdss")
    store, trail = app.extensions.get("cdss.store"), app.extensions.get("cdss.audit")
    database = store is not None and store.probe_write()
    outbox = trail is not None and trail.outbox.writable()
    return {
        "rules": "ok" if evaluator is not None and evaluator.knowledge.rules else "no rules loaded",
        # set when the engine's session table filled up: the worker must be recycled
        "engine": "capacity exhausted" if app.extensions.get("cdss.unhealthy") else "ok",
        "audit": "ok" if database or outbox else "no audit record can be kept (database and outbox failed)",
        "database": "ok" if database else "audit write failed (records go to the outbox)",
        "outbox": "ok" if outbox else "outbox write failed",
        "serving": "draining (shutting down)" if draining() else "ok",
    }


@bp.get("/readyz")
@documented(summary="Readiness: rules loaded, an audit record can be kept, not draining (503 with the same body "
                    "otherwise)",
            response=ReadinessSchema, alternatives={503: ReadinessSchema}, tags=("operations",),
            response_examples={"ready": {
                "status": "ready", "checks": {"rules": "ok", "engine": "ok", "audit": "ok", "database": "ok",
                                              "outbox": "ok", "serving": "ok"},
                "rules": 55, "engine_sessions": 0, "reused_results": 0, "audit": {
                    "pid": 4242, "process": {"database": 120, "outboxed": 0, "refused": 0, "unaudited": 0},
                    "instance": {"audit_database": 360, "audit_outboxed": 12, "audit_replayed": 12,
                                 "audit_refused": 0, "audit_unaudited": 0, "database_failures": 3,
                                 "outbox_failures": 0},
                    "outbox_depth": 0}}})
def readyz():
    """Ready to evaluate: rules loaded, an audit record can be kept, not draining; 503 otherwise."""
    app = current_app._get_current_object()
    checks = readiness_checks(app)
    ready = all(checks[name] == "ok" for name in DECIDING)
    evaluator, trail = app.extensions.get("cdss"), app.extensions.get("cdss.audit")
    body = ReadinessSchema().dump({
        "status": "ready" if ready else "not_ready", "checks": checks,
        "rules": len(evaluator.knowledge.rules) if evaluator else 0,
        "engine_sessions": evaluator.engine.live_sessions() if evaluator else 0,
        "audit": trail.figures(),
        "reused_results": evaluator.recent.hits if evaluator and evaluator.recent else 0})
    return body, 200 if ready else 503
