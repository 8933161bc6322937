"""The clinician's pages: the advice page at / and the knowledge base at /rules (no clinical logic here)."""
import datetime as dt
import uuid
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, render_template, send_from_directory

from cdss.access import authenticate_native
from cdss.audit import record_evaluation
from cdss.config import ROOT
from cdss.errors import InvalidInputError
from cdss.facts import UnknownConditionError, build_facts
from cdss.hooks.cards import CardContext, build_cards

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/web")

# Where the page draws guideline thresholds on its strip, per patient group (display only: the rules
# decide, not the page). A band runs from the previous bound up to `to` (included when the rules say "at or
# below"). tests/web/test_threshold_strip.py checks every bound against the thresholds written in the
# group's rule files (`topics`), so the strip cannot drift from the rules.
LABS = {"ferritin": {"label": "Ferritin", "unit": "ng/mL", "fact": "ferritin_ng_ml"},
        "tsat": {"label": "TSAT", "unit": "%", "fact": "tsat_percent"}}


def band(to, kind, label, inclusive=False):
    """One coloured band of the strip: kind is treat, caution, none or stop (the colours)."""
    return {"to": to, "kind": kind, "label": label, "inclusive": inclusive}


NO_IRON_TSAT = [band(45, "none", "Iron allowed"), band(100, "stop", "No iron (TSAT 45% or more)")]
GROUPS = {
    "adult": {"label": "Adult", "topics": ["iron.yaml"], "bands": {
        "ferritin": [band(75, "treat", "Iron advised (oral or IV)", True), band(100, "caution", "IV iron only", True),
                     band(300, "none", "Iron not indicated"), band(600, "stop", "No iron: possible overload")],
        "tsat": [band(20, "treat", "Low: iron deficiency"), *NO_IRON_TSAT]}},
    "child": {"label": "Child (under 18)", "topics": ["pediatrics.yaml", "iron.yaml"], "bands": {
        "ferritin": [band(50, "treat", "Oral iron"), band(75, "caution", "Oral iron may be considered", True),
                     band(100, "none", "No RLS iron rule: ask a specialist", True),
                     band(600, "none", "Iron not indicated")],
        "tsat": NO_IRON_TSAT}},
    "pregnancy": {"label": "Pregnancy", "topics": ["pregnancy.yaml", "iron.yaml"], "bands": {
        "ferritin": [band(35, "treat", "Oral iron; IV may be considered from the second trimester"),
                     band(75, "treat", "Oral iron", True), band(300, "none", "Iron not indicated"),
                     band(600, "stop", "No iron: possible overload")],
        "tsat": NO_IRON_TSAT}},
    "dialysis": {"label": "Dialysis", "topics": ["renal.yaml"], "bands": {
        "ferritin": [band(200, "treat", "IV iron sucrose if TSAT is below 20%"),
                     band(600, "none", "Iron managed with nephrology")],
        "tsat": [band(20, "treat", "IV iron sucrose if ferritin is below 200 ng/mL"),
                 band(100, "none", "Iron managed with nephrology")]}},
}
DIALYSIS_CONDITIONS = ("dialysis", "esrd", "esrd_dialysis")  # condition value set names (whichever exist)


def threshold_group(context, vocabulary):
    """The patient's group for the strip, from the canonical facts the rules see (first that applies)."""
    patient = build_facts(context, vocabulary).facts[0]  # the patient fact comes first
    if patient.get("pregnant"):
        return "pregnancy"
    if any(patient.get(f"cond_{name}") for name in DIALYSIS_CONDITIONS):
        return "dialysis"
    return "child" if patient.get("age_group") == "child" else "adult"


PAGE_SERVICE = "clinician-page"  # the service id on the page's cards (not a CDS Hooks service)

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
    return render_template("index.html", examples=example_names(), auth_required=current_app.config["AUTH_ENABLED"],
                           thresholds={"labs": LABS, "groups": {name: {"label": group["label"], "bands": group["bands"]}
                                                                for name, group in GROUPS.items()}})


@bp.post("/advice")
def advice():
    """The page's advice: the native evaluation, the CDS Hooks cards an EHR would get for it (links, override
    reasons, proposed orders) and the patient's group for the threshold strip. Audited like the API."""
    from cdss import api  # noqa: PLC0415 - the API blueprint is imported inside the factory too

    authenticate_native()  # the same credentials as /api/v1 (an API key the page sends, or a JWT)
    context = api.load_context(api.json_body())
    evaluator = api.evaluator()
    try:
        result = evaluator.evaluate(context)
    except UnknownConditionError as error:
        raise InvalidInputError("the patient context is invalid", error.fields) from None
    record_evaluation(result, "page", context)
    built = build_cards(result, CardContext(service_id=PAGE_SERVICE), new_id=lambda: str(uuid.uuid4()),
                        now=dt.datetime.now(dt.timezone.utc))
    return {"evaluation": result, "cards": [dict(card, code=code) for card, code, _ in built],
            "group": threshold_group(context, evaluator.vocabulary)}


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
