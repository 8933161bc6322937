"""The least a service on this stack can do: the service's marshmallow schema, then raw durable_rules.

Same gunicorn settings as the service and the bare endpoint. POST /evaluate validates the context with
PatientContextSchema, builds the facts and runs the compiled rules on a bare Host (bench/inprocess.py),
then answers the fired rule ids: no reasoning, no audit, no request log. Its throughput bounds what any
marshmallow + durable_rules evaluation endpoint can reach on this machine.
"""
from flask import Flask, jsonify, request

from bench.inprocess import RawEngine
from cdss.config import ROOT
from cdss.facts import build_facts
from cdss.loader import load_rules
from cdss.vocabulary import Vocabulary
from schemas.context import PatientContextSchema

app = Flask(__name__)
knowledge = load_rules(ROOT / "rules")
vocabulary = Vocabulary(knowledge.medications, knowledge.conditions)
engine = RawEngine(knowledge)
schema = PatientContextSchema()


@app.post("/evaluate")
def evaluate():
    """Validate, evaluate, answer the fired rules."""
    facts = build_facts(schema.load(request.get_json()), vocabulary).facts
    return jsonify(fired=sorted({rule_id for rule_id, _ in engine.run(facts)}))


@app.get("/healthz")
def healthz():
    """Up (the benchmark waits for this before it starts)."""
    return jsonify(status="ok")
