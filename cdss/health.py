"""Liveness and readiness for the load balancer: /healthz (the process answers), /readyz (it can serve)."""
from flask import Blueprint, current_app
from marshmallow import Schema, fields

from cdss.openapi import documented

bp = Blueprint("health", __name__)


class LivenessSchema(Schema):
    status = fields.String(required=True, metadata={"enum": ["ok"]})


class ReadinessSchema(Schema):
    status = fields.String(required=True, metadata={"enum": ["ready", "not_ready"]})
    checks = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                         metadata={"description": "each check: ok or the reason it failed"})
    rules = fields.Integer(required=True, metadata={"description": "number of rules loaded"})
    engine_sessions = fields.Integer(required=True,
                                     metadata={"description": "live rule-engine sessions in this worker (0 when idle)"})
    audit_failures = fields.Integer(required=True,
                                    metadata={"description": "evaluations this worker answered but could not audit"})
    reused_results = fields.Integer(required=True, metadata={
        "description": "evaluations this worker answered with a recent result for an identical context"})


@bp.get("/healthz")
@documented(summary="Liveness: the process answers", response=LivenessSchema, tags=("operations",),
            response_examples={"alive": {"status": "ok"}})
def healthz():
    """The process is alive and answers HTTP; says nothing about its dependencies."""
    return LivenessSchema().dump({"status": "ok"})


def readiness_checks(app):
    """Each readiness check by name: 'ok' or why it fails."""
    evaluator = app.extensions.get("cdss")
    store = app.extensions.get("cdss.store")
    return {
        "rules": "ok" if evaluator is not None and evaluator.knowledge.rules else "no rules loaded",
        "database": "ok" if store is not None and store.ping() else "database unreachable",
        # set when the engine's session table filled up: the worker must be recycled
        "engine": "capacity exhausted" if app.extensions.get("cdss.unhealthy") else "ok",
    }


@bp.get("/readyz")
@documented(summary="Readiness: rules loaded and database reachable (503 with the same body otherwise)",
            response=ReadinessSchema, alternatives={503: ReadinessSchema}, tags=("operations",),
            response_examples={"ready": {
                "status": "ready", "checks": {"rules": "ok", "database": "ok", "engine": "ok"},
                "rules": 55, "engine_sessions": 0, "audit_failures": 0, "reused_results": 0}})
def readyz():
    """Ready to evaluate: rules loaded and the audit database reachable; 503 otherwise."""
    app = current_app._get_current_object()
    checks = readiness_checks(app)
    ready = all(value == "ok" for value in checks.values())
    evaluator = app.extensions.get("cdss")
    body = ReadinessSchema().dump({
        "status": "ready" if ready else "not_ready", "checks": checks,
        "rules": len(evaluator.knowledge.rules) if evaluator else 0,
        "engine_sessions": evaluator.engine.live_sessions() if evaluator else 0,
        "audit_failures": app.extensions.get("cdss.metrics", {}).get("audit_failures", 0),
        "reused_results": evaluator.recent.hits if evaluator and evaluator.recent else 0})
    return body, 200 if ready else 503
