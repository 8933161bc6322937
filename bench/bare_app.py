"""The ceiling: a bare Flask JSON endpoint, served by the same gunicorn settings as the service."""
from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/echo")
def echo():
    """Parse the JSON body and answer a small JSON object: the least any JSON API does."""
    body = request.get_json()
    return jsonify(ok=True, keys=len(body))


@app.get("/healthz")
def healthz():
    """Up (the benchmark waits for this before it starts)."""
    return jsonify(status="ok")
