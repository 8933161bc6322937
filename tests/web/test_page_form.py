"""The page's form in headless Chromium: Clear, errors on the row that caused them, no stale advice,
long names, the favicon (issue 11 item 8)."""
import re

import requests

from tests.web.test_advice_page import fill, iron_deficient, submit_and_wait

SHOWN_ADVICE = "return !document.getElementById('results').hidden"
CARD_COUNT = "return document.querySelectorAll('#cards .card').length"


def rows(page, name):
    """Type one value per row of a list (medications or conditions), adding rows as needed."""
    def fill_rows(values):
        button = page.find(f"#add-{name[:-1]}")
        for index, value in enumerate(values):
            inputs = page.find_all(f"#{name} .list-row input")
            if index >= len(inputs):
                page.click(button)
                inputs = page.find_all(f"#{name} .list-row input")
            page.type(inputs[index], value)
    return fill_rows


def row_errors(page, name):
    """The error text under each row of a list, in order."""
    return page.script("return Array.from(document.querySelectorAll(arguments[0])).map(e => e.textContent)",
                       f"#{name} .list-row .field-error")


def test_clear_removes_the_advice_and_resets_the_example_picker(page):
    page.select("#example", "pregnant-iron-deficient")
    page.wait_for(lambda: page.script(SHOWN_ADVICE), message="advice")
    assert page.script(CARD_COUNT) > 0
    page.click(page.find("#clear"))
    assert page.script("return document.getElementById('example').value") == ""
    assert page.script(SHOWN_ADVICE) is False
    assert page.script(CARD_COUNT) == 0
    assert page.script("return document.getElementById('advice-placeholder').hidden") is False
    assert page.prop(page.find("#lab-ferritin"), "value") == ""
    # the lists are back to one empty row each, ready for the next patient
    assert page.script("return Array.from(document.querySelectorAll('.list input')).map(i => i.value)") == ["", ""]


def test_medication_error_lands_on_the_row_that_caused_it(page):
    fill(page, {"#patient-age": "45"})
    # the empty second row is not sent, so the API's item 1 is the page's row 3
    rows(page, "medications")(["sertraline", "", "12345678901"])
    submit_and_wait(page)
    errors = row_errors(page, "medications")
    assert errors[0] == "" and errors[1] == ""
    assert errors[2].startswith("Medication 3, RxNorm code: ")
    assert "medications." not in errors[2]
    invalid = page.script("return Array.from(document.querySelectorAll('#medications input'))"
                          ".map(i => i.getAttribute('aria-invalid'))")
    assert invalid == [None, None, "true"]


def test_condition_error_names_the_row_in_clinical_words(page):
    fill(page, {"#patient-age": "45"})
    rows(page, "conditions")(["diabetes", "not_a_condition"])
    submit_and_wait(page)
    errors = row_errors(page, "conditions")
    assert errors[0] == ""
    assert errors[1].startswith("Condition 2, name: unknown condition 'not_a_condition'")
    assert "/api/" not in errors[1] and "GET" not in errors[1]
    assert page.script("return document.activeElement === document.querySelectorAll('#conditions input')[1]")


def test_invalid_submit_hides_the_previous_advice_and_says_what_to_do(page):
    iron_deficient(page)
    assert page.script(SHOWN_ADVICE) is True
    fill(page, {"#lab-ferritin": "-5"})
    submit_and_wait(page)
    assert page.script(SHOWN_ADVICE) is False
    assert page.script(CARD_COUNT) == 0
    summary = page.text(page.find("#form-error"))
    assert "fix the highlighted field" in summary
    ferritin_error = page.text(page.find('[data-error-for="labs.ferritin"]'))
    assert ferritin_error.startswith("Ferritin: ")


def test_long_names_wrap_without_horizontal_overflow_at_1400_px(page):
    assert page.script("return window.innerWidth") >= 1380
    long_word = "Polysaccharideironcomplex" * 7  # 175 characters, no space or hyphen to break at
    fill(page, {"#patient-age": "45", "#lab-ferritin": "30", "#lab-tsat": "15"})
    rows(page, "medications")([long_word, "polysaccharide iron complex with " + "vitamin " * 20])
    submit_and_wait(page)
    assert page.script(SHOWN_ADVICE) is True
    assert page.script("return document.documentElement.scrollWidth <= window.innerWidth") is True
    widest = page.script("return Math.max(...Array.from(document.querySelectorAll('#advice *'))"
                         ".map(e => e.getBoundingClientRect().right))")
    assert widest <= page.script("return document.getElementById('advice').getBoundingClientRect().right") + 1


def test_page_has_a_favicon(page, live_server):
    base, _ = live_server
    href = page.script("const l = document.querySelector('link[rel=icon]'); return l && l.href")
    assert href and href.startswith(base)
    for url in (href, base + "/favicon.ico"):
        response = requests.get(url, timeout=10)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("image/svg+xml")
        assert response.content.lstrip().startswith(b"<svg")


def test_advice_shows_labels_never_codes(page):
    fill(page, {"#patient-age": "45", "#lab-ferritin": "30", "#lab-tsat": "15"})
    page.select("#patient-sex", "male")
    rows(page, "medications")(["mirtazapine"])
    rows(page, "conditions")(["hemochromatosis", "sleep_apnea"])
    submit_and_wait(page)
    assert page.script(SHOWN_ADVICE) is True
    page.script("document.querySelectorAll('#advice details').forEach(d => d.open = true)")
    text = page.script("return document.getElementById('advice').innerText")
    for code in ("iron_deficiency", "cond_hemochromatosis", "evidence = ", "rls.criteria", "sleep_apnea",
                 "ferritin_ng_ml", "avoid_iron"):
        assert code not in text
    assert re.search(r"\b[a-z]+_[a-z_]+\b", text) is None, re.search(r"\b[a-z]+_[a-z_]+\b", text)
    assert "Iron deficiency" in page.text(page.find(".classification-type"))
    assert "Obstructive sleep apnea" in page.text(page.find(".associated"))
    assert "RLS diagnostic criteria (IRLSSG 2014)" in page.text(page.find("#notes .missing"))
    row = page.find('#cards .card[data-code="avoid_iron"] tr[data-fact="cond_hemochromatosis"]')
    assert page.text(row) in ("Hemochromatosis yes", "Hemochromatosis\tyes", "Hemochromatosis\nyes")
