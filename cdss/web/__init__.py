"""The clinician's pages: the advice page at / and the knowledge base at /rules (no clinical logic here)."""
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, render_template, send_from_directory

from cdss.config import ROOT

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/web")

# Where the page draws guideline thresholds on its strip (display only: the rules decide, not the page).
# Ferritin 50 (children), 75, 100, 300 ng/mL and TSAT 20 %, 45 % are the thresholds of AASM 2025,
# IRLSSG 2018 and the Mayo algorithm as written in rules/iron.yaml and rules/pediatrics.yaml.
THRESHOLDS = {
    "ferritin": {"label": "Ferritin", "unit": "ng/mL", "fact": "ferritin_ng_ml", "marks": [50, 75, 100, 300],
                 "max": 600},
    "tsat": {"label": "TSAT", "unit": "%", "fact": "tsat_percent", "marks": [20, 45], "max": 100},
}

# The page is served with its own scripts and styles only: nothing inline, nothing from a CDN.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def examples_dir():
    """The folder of bundled example patients (CDSS_EXAMPLES_DIR in config, else examples/)."""
    return Path(current_app.config.get("EXAMPLES_DIR") or ROOT / "examples")


def example_names():
    """Names of the bundled example patients, sorted."""
    return sorted(path.stem for path in examples_dir().glob("*.json"))


@bp.after_request
def secure_headers(response):
    """Pages may load only what this service serves; no framing, no MIME sniffing."""
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


@bp.get("/")
def index():
    """The advice page: a patient context form, the example patients, and the rendered advice."""
    return render_template("index.html", examples=example_names(), thresholds=THRESHOLDS)


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico when a page names no icon (e.g. the JSON API's pages)."""
    # Read whole (a few hundred bytes): no file handle is left for the response to close.
    icon = (Path(bp.static_folder) / "favicon.svg").read_bytes()
    return Response(icon, mimetype="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})


@bp.get("/examples/<name>.json")
def example(name):
    """One bundled example patient, as the native JSON an EHR would post."""
    if name not in example_names():
        abort(404)
    return send_from_directory(examples_dir(), f"{name}.json", mimetype="application/json")


@bp.get("/rules")
def knowledge_base():
    """The knowledge base page, built from the same data as GET /api/v1/rules."""
    kb = knowledge_base_data()
    return render_template("rules.html", kb=kb, topics=by_topic(kb["rules"]), standalone=False)


def by_topic(rules):
    """Rules grouped by topic file, in the manifest's order (Jinja's groupby would sort them)."""
    topics = {}
    for rule in rules:
        topics.setdefault(rule["topic"], []).append(rule)
    return list(topics.items())


def knowledge_base_data():
    """The knowledge base as GET /api/v1/rules returns it (the API view is the one source)."""
    from cdss import api  # noqa: PLC0415 - the API blueprint is imported inside the factory too

    return api.rules()
