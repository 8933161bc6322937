"""The native iron-therapy inputs (allergies, weight_kg, medications[].start_date, as_of): validated at the
boundary, reproducible through as_of, and read by the rules."""
import pytest

from tests.conftest import codes, labs, make_patient


def evaluate(client, **overrides):
    """POST a context built from make_patient and return the JSON body (asserting 200)."""
    response = client.post("/api/v1/evaluate", json=make_patient(**overrides))
    assert response.status_code == 200, response.json
    return response.json


@pytest.mark.parametrize(("overrides", "field", "text"), [
    ({"allergies": [{"reaction": "rash"}]}, "allergies.0", "name or an rxnorm"),
    ({"allergies": [{"name": "iron sucrose", "severity": "fatal"}]}, "allergies.0.severity", "Must be one of"),
    ({"allergies": [{"name": "x"}] * 101}, "allergies", "Longer than maximum"),
    ({"patient": {"age": 40, "weight_kg": 0}}, "patient.weight_kg", "above 0"),
    ({"patient": {"age": 40, "weight_kg": "45"}}, "patient.weight_kg", "number"),
    ({"as_of": "2026-06-01", "medications": [{"name": "ferrous sulfate", "start_date": "2026-06-02"}]},
     "medications.0.start_date", "after as_of"),
    ({"medications": [{"name": "ferrous sulfate", "start_date": "yesterday"}]}, "medications.0.start_date", "date"),
    ({"as_of": "2999-01-01"}, "as_of", "future"),
])
def test_invalid_iron_therapy_input_is_a_400_naming_the_field(client, overrides, field, text):
    response = client.post("/api/v1/evaluate", json=make_patient(**overrides))
    assert response.status_code == 400
    error = response.json["error"]
    assert field in error["fields"], error
    assert text in " ".join(error["fields"][field])


def test_the_same_context_gives_the_same_advice_on_any_day_through_as_of(client):
    body = {"as_of": "2026-06-01", "labs": labs(ferritin=40, tsat=18),
            "medications": [{"name": "ferrous sulfate", "start_date": "2026-03-03"}]}
    result = evaluate(client, **body)
    assert "iv_iron" in codes(result) and "continue_oral_iron" not in codes(result)  # 90 days: oral failure
    body["as_of"] = "2026-03-31"
    assert "continue_oral_iron" in codes(evaluate(client, **body))  # 28 days on oral iron


def test_birth_date_age_counts_to_as_of(client):
    result = evaluate(client, patient={"birth_date": "2000-06-02", "sex": "male"}, as_of="2018-06-01", rls={},
                      labs=labs(ferritin=30, tsat=15))
    assert any(item["code"] == "oral_iron" and "child" in item["title"] for item in result["recommendations"])


def test_an_iv_iron_allergy_names_the_product_and_reaction(client):
    result = evaluate(client, labs=labs(ferritin=85, tsat=24), patient={"age": 60, "sex": "female"},
                      allergies=[{"name": "Venofer", "reaction": "anaphylaxis", "severity": "severe"}])
    (item,) = [item for item in result["recommendations"] if item["code"] == "avoid_iv_iron"]
    assert "iron sucrose (anaphylaxis, severe)" in item["detail"]
    assert "iv_iron" not in codes(result)


def test_an_allergy_to_something_else_changes_nothing(client):
    plain = evaluate(client, labs=labs(ferritin=85, tsat=24), patient={"age": 60, "sex": "female"})
    allergic = evaluate(client, labs=labs(ferritin=85, tsat=24), patient={"age": 60, "sex": "female"},
                        allergies=[{"name": "penicillin", "reaction": "rash", "severity": "moderate"}])
    assert codes(plain) == codes(allergic) and "iv_iron" in codes(plain)
    assert "allergies" not in allergic["unrecognized"]


@pytest.mark.parametrize("name", ["IV iron", "intravenous iron", "Iron infusion", "iron injection 100 mg"])
def test_iv_iron_named_by_its_route_is_iv_iron_not_oral(client, name):
    """'IV iron' once read as the word 'iron' (oral iron): the allergy was missed and IV iron advised."""
    allergic = evaluate(client, labs=labs(ferritin=85, tsat=24), patient={"age": 60, "sex": "female"},
                        allergies=[{"name": name, "reaction": "anaphylaxis"}])
    assert "avoid_iv_iron" in codes(allergic) and "iv_iron" not in codes(allergic)
    treated = evaluate(client, as_of="2026-06-01", labs=labs(ferritin=40, tsat=18), patient={"age": 60, "sex": "male"},
                       medications=[{"name": name, "start_date": "2026-05-01"}])
    assert "continue_oral_iron" not in codes(treated)
    assert "ferritin_after_iv_iron" in codes(treated)  # a dose a month ago: ferritin is not yet usable


@pytest.mark.parametrize(("allergy", "listed"), [
    ({"name": "Feraheem", "reaction": "anaphylaxis"}, "Feraheem"),    # a misspelt IV iron brand
    ({"name": "ferric something"}, "ferric something"),
    ({"rxnorm": "99999999"}, "rxnorm|99999999"),                      # a code in no table
])
def test_an_allergy_that_could_be_to_iv_iron_but_is_not_identified_is_listed(client, allergy, listed):
    result = evaluate(client, labs=labs(ferritin=85, tsat=24), patient={"age": 60, "sex": "female"},
                      allergies=[allergy, {"name": "penicillin"}, {"name": "peanut"}])
    assert result["unrecognized"]["allergies"] == [listed]
    assert "avoid_iv_iron" not in codes(result)


def test_allergies_the_service_can_rule_out_are_not_listed(client):
    result = evaluate(client, labs=labs(ferritin=85, tsat=24), patient={"age": 60, "sex": "female"},
                      allergies=[{"name": "penicillin"}, {"name": "shellfish"}, {"rxnorm": "7980"},
                                 {"name": "ferrous sulfate", "reaction": "nausea"}])
    assert "allergies" not in result["unrecognized"]
