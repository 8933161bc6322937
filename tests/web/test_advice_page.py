"""The clinician's page in headless Chromium: form, cards, reasoning, errors next to fields, escaping."""
import json

from tests.conftest import ROOT

XSS = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'


def fill(page, values):
    """Type values into inputs, by CSS selector."""
    for css, text in values.items():
        page.type(page.find(css), text)


def submit_and_wait(page):
    """Press "Get advice" and wait for cards or field errors."""
    page.script("document.getElementById('results').hidden = true;")
    page.click(page.find("#evaluate"))
    page.wait_for(lambda: page.script(
        "return !document.getElementById('results').hidden || "
        "Array.from(document.querySelectorAll('.field-error, .form-error')).some(e => e.textContent)"),
        message="advice or errors")


def api(live_server, context):
    """What the JSON API answers for a context (the page must show exactly this)."""
    _, app = live_server
    return app.test_client().post("/api/v1/evaluate", json=context).get_json()


IRON_DEFICIENT = {"patient": {"age": 45, "sex": "female"}, "pregnancy": {"status": "not_pregnant"},
                  "labs": {"ferritin": {"value": 30, "unit": "ng/mL"}, "tsat": {"value": 15, "unit": "%"}},
                  "medications": [], "conditions": []}


def iron_deficient(page):
    """Enter an adult with ferritin 30 ng/mL and TSAT 15 % (IRON_DEFICIENT) and submit."""
    fill(page, {"#patient-age": "45", "#lab-ferritin": "30", "#lab-tsat": "15"})
    page.select("#patient-sex", "female")
    page.select("#pregnancy-status", "not_pregnant")
    submit_and_wait(page)


def test_page_loads_everything_from_the_service(page, live_server):
    base, _ = live_server
    assert page.script("return document.title").startswith("RLS decision support")
    options = page.script("return Array.from(document.querySelectorAll('#example option')).map(o => o.value)")
    assert set(options) >= {path.stem for path in (ROOT / "examples").glob("*.json")}
    resources = page.script("return performance.getEntriesByType('resource').map(r => r.name)")
    assert resources and all(name.startswith(base) for name in resources)


def test_form_submission_renders_the_apis_advice_as_cards(page, live_server):
    iron_deficient(page)
    expected = api(live_server, IRON_DEFICIENT)
    cards = page.script("return Array.from(document.querySelectorAll('#cards .card')).map(c => ({"
                        "code: c.dataset.code, cls: c.className, summary: c.querySelector('.summary').textContent}))")
    assert [card["code"] for card in cards] == [item["code"] for item in expected["recommendations"]]
    for card, item in zip(cards, expected["recommendations"]):
        assert card["summary"] == item["title"]
        assert f"indicator-{item['indicator']}" in card["cls"]
    oral = page.find('.card[data-code="oral_iron"]')
    assert "Proposed order: Prescribe ferrous sulfate 325 mg (65 mg elemental iron)" in page.text(oral)
    classification = page.text(page.find(".classification-type"))
    assert expected["classification"]["type"] in classification


def test_reasoning_opens_with_rules_facts_and_citations(page, live_server):
    iron_deficient(page)
    oral = next(item for item in api(live_server, IRON_DEFICIENT)["recommendations"] if item["code"] == "oral_iron")
    card = page.find('.card[data-code="oral_iron"]')
    why = page.find("details.why", within=card)
    assert page.prop(why, "open") is False
    page.click(page.find("summary", within=why))
    assert page.prop(why, "open") is True
    text = page.text(why)
    for reason in oral["reasoning"]:
        assert reason["rule"] in text and reason["statement"] in text
    assert "Ferritin\n30 ng/mL" in text or "Ferritin 30 ng/mL" in text
    assert "ferritin_ng_ml" not in text
    hrefs = [page.prop(link, "href") for link in page.find_all(".references a", within=why)]
    assert hrefs == [reference["url"] for reference in oral["references"]]


def test_threshold_strip_places_ferritin_and_tsat(page):
    iron_deficient(page)
    values = page.script("return Array.from(document.querySelectorAll('.scale-row')).map(r => "
                         "[r.dataset.lab, r.querySelector('.scale-value').textContent, "
                         "r.querySelector('.marker') && r.querySelector('.marker').style.left])")
    ferritin, tsat = values
    assert ferritin[:2] == ["ferritin", "30 ng/mL"] and tsat[:2] == ["tsat", "15 %"]
    # ferritin 30 sits in the first band (0-50) of five equal bands; TSAT 15 in the first of three.
    assert 0 < float(ferritin[2].rstrip("%")) < 20 and 0 < float(tsat[2].rstrip("%")) < 33.4


def test_example_patient_fills_the_form_and_shows_its_advice(page, live_server):
    page.select("#example", "pregnant-iron-deficient")
    page.wait_for(lambda: page.script("return !document.getElementById('results').hidden"), message="advice")
    assert page.prop(page.find("#lab-ferritin"), "value") == "22"
    expected = api(live_server, json.loads((ROOT / "examples" / "pregnant-iron-deficient.json").read_text()))
    codes = page.script("return Array.from(document.querySelectorAll('#cards .card')).map(c => c.dataset.code)")
    assert codes == [item["code"] for item in expected["recommendations"]]


def test_validation_error_appears_next_to_its_field(page):
    fill(page, {"#patient-age": "45", "#lab-ferritin": "-5", "#lab-tsat": "15"})
    submit_and_wait(page)
    lab = page.find('.lab[data-lab="ferritin"]')
    message = page.text(page.find(".field-error", within=lab))
    assert "outside the possible range" in message
    assert page.prop(page.find("#lab-ferritin"), "ariaInvalid") == "true"
    assert page.text(page.find('[data-error-for="labs.tsat"]')) == ""
    assert page.script("return document.getElementById('results').hidden") is True


def test_script_typed_into_a_medication_name_is_shown_as_text(page):
    page.type(page.find("#medications input"), XSS)
    fill(page, {"#patient-age": "45"})
    submit_and_wait(page)
    shown = page.script("return Array.from(document.querySelectorAll('.unrecognized-name')).map(e => e.textContent)")
    assert shown == [XSS]
    assert page.script("return window.__xss === undefined") is True
    assert page.script("return document.querySelectorAll('#advice script, #advice img').length") == 0


def test_screenshot_of_the_rendered_advice(page, artifacts):
    page.select("#example", "pregnant-iron-deficient")
    page.wait_for(lambda: page.script("return !document.getElementById('results').hidden"), message="advice")
    page.click(page.find("#cards .card details.why summary"))
    page.screenshot(artifacts / "advice.png")
    assert (artifacts / "advice.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_knowledge_base_page_lists_every_rule(browser, live_server):
    base, app = live_server
    browser.get(base + "/rules")
    expected = app.test_client().get("/api/v1/rules").get_json()
    ids = browser.script("return Array.from(document.querySelectorAll('article.rule')).map(a => a.id)")
    assert ids == [rule["id"] for rule in expected["rules"]]
    assert browser.text(browser.find("#last-reviewed")) == expected["last_reviewed"]
    rule = browser.find('article.rule[id="iron.safety.tsat-45"]')
    assert "tsat >= 45%" in browser.text(browser.find(".condition", within=rule))
