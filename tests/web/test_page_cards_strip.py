"""The page's cards carry what the CDS Hooks cards carry (links, override reasons, proposed orders), and
its threshold strip shows the bands of the patient's group, bound for bound with the rules (issue 11 item 8)."""
import pytest

from cdss.web import GROUPS, LABS
from schemas.hooks import CardSchema
from tests.web.test_advice_page import IRON_DEFICIENT, fill, iron_deficient, submit_and_wait
from tests.web.test_page_form import rows

COMPARISONS = ("$lt", "$lte", "$gt", "$gte")


def advice(live_server, context):
    """What POST /advice answers for a context (what the page renders)."""
    _, app = live_server
    return app.test_client().post("/advice", json=context).get_json()


def test_advice_endpoint_gives_the_evaluation_and_valid_cds_hooks_cards(client):
    body = client.post("/advice", json=IRON_DEFICIENT).get_json()
    assert [card["code"] for card in body["cards"]] == [item["code"] for item in body["evaluation"]["recommendations"]]
    for card in body["cards"]:
        assert CardSchema().validate({key: value for key, value in card.items() if key != "code"}) == {}
    assert body["group"] == "adult"


def test_advice_endpoint_names_the_field_of_an_invalid_context(client):
    response = client.post("/advice", json={"labs": {"ferritin": {"value": -5, "unit": "ng/mL"}}})
    assert response.status_code == 400
    assert "labs.ferritin.value" in response.get_json()["error"]["fields"]


def test_cards_show_links_override_reasons_and_proposed_orders(page, live_server):
    iron_deficient(page)
    cds = next(card for card in advice(live_server, IRON_DEFICIENT)["cards"] if card["code"] == "oral_iron")
    node = page.find('#cards .card[data-code="oral_iron"]')
    orders = [page.text(item) for item in page.find_all(".suggestion-label", within=node)]
    assert orders == ["Proposed order: " + suggestion["label"] for suggestion in cds["suggestions"]]
    actions = page.script("return Array.from(arguments[0].querySelectorAll('.suggestion-actions li'))"
                          ".map(li => li.textContent)", {"element-6066-11e4-a52e-4f735466cecf": node})
    assert actions == [f"{action['description']} ({action['resource']['resourceType']}, draft)"
                       for action in cds["suggestions"][0]["actions"]]
    hrefs = [page.prop(link, "href") for link in page.find_all(".card-links a", within=node)]
    assert hrefs == [link["url"] for link in cds["links"]]
    reasons = page.script("return Array.from(arguments[0].querySelectorAll('.override-reasons li'))"
                          ".map(li => li.textContent)", {"element-6066-11e4-a52e-4f735466cecf": node})
    assert reasons == [reason["display"] for reason in cds["overrideReasons"]]


def strip_state(page):
    """The group, and per lab the band kinds and the text under the value."""
    return page.script("""
        const box = document.querySelector('.strip-box');
        return {group: box.dataset.group, title: box.querySelector('.strip-title').textContent,
                rows: Array.from(box.querySelectorAll('.scale-row')).map(r => ({lab: r.dataset.lab,
                    kinds: Array.from(r.querySelectorAll('.band')).map(b => b.className.replace('band band-', '')),
                    colours: Array.from(r.querySelectorAll('.band')).map(b => getComputedStyle(b).backgroundColor),
                    meaning: (r.querySelector('.band-meaning') || {}).textContent}))};""")


def test_strip_shows_the_adult_bands_in_colour(page):
    iron_deficient(page)
    state = strip_state(page)
    assert state["group"] == "adult" and state["title"].endswith("Adult")
    ferritin, tsat = state["rows"]
    assert ferritin["kinds"] == ["treat", "caution", "none", "stop"]
    assert len(set(ferritin["colours"])) == 4 and "rgba(0, 0, 0, 0)" not in ferritin["colours"]
    assert ferritin["meaning"] == "Iron advised (oral or IV)"  # ferritin 30
    assert tsat["meaning"] == "Low: iron deficiency"  # TSAT 15


@pytest.mark.parametrize(("group", "fields", "conditions", "meaning"), [
    ("child", {"#patient-age": "9", "#lab-ferritin": "30", "#lab-tsat": "15"}, [], "Oral iron"),
    ("dialysis", {"#patient-age": "60", "#lab-ferritin": "150", "#lab-tsat": "15"}, ["icd-10-cm|N18.6"],
     "IV iron sucrose if TSAT is below 20%"),
])
def test_strip_shows_the_thresholds_of_the_patients_group(page, group, fields, conditions, meaning):
    fill(page, fields)
    rows(page, "conditions")(conditions)
    submit_and_wait(page)
    state = strip_state(page)
    assert state["group"] == group and state["title"].endswith(GROUPS[group]["label"])
    assert state["rows"][0]["kinds"] == [band["kind"] for band in GROUPS[group]["bands"]["ferritin"]]
    assert state["rows"][0]["meaning"] == meaning


def test_strip_of_a_pregnant_patient(page):
    page.select("#example", "pregnant-iron-deficient")
    page.wait_for(lambda: page.script("return !document.getElementById('results').hidden"), message="advice")
    state = strip_state(page)
    assert state["group"] == "pregnancy"
    assert state["rows"][0]["meaning"] == "Oral iron; IV may be considered from the second trimester"  # ferritin 22


def thresholds(knowledge, topics, fact):
    """Every number a rule of these topic files compares the fact with."""
    found = set()

    def walk(pattern):
        (key, value), = pattern.items()
        if key in ("$and", "$or"):
            for part in value:
                walk(part)
        elif key in COMPARISONS and fact in value:
            found.add(value[fact])
    for rule in knowledge.rules:
        if rule.topic in topics:
            for _, kind, pattern in rule.aliases():
                if kind == "patient":
                    walk(pattern)
    return found


@pytest.mark.parametrize("group", list(GROUPS))
def test_every_band_bound_is_a_threshold_of_the_groups_rules(knowledge, group):
    spec = GROUPS[group]
    for lab, bands in spec["bands"].items():
        written = thresholds(knowledge, spec["topics"], lab)
        inner = [band["to"] for band in bands[:-1]]
        assert set(inner) <= written, f"{group} {lab}: {sorted(set(inner) - written)} not in {spec['topics']}"
        assert inner == sorted(inner) and bands[-1]["to"] > inner[-1] if inner else True
    assert set(spec["bands"]) == set(LABS)
