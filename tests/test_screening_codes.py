"""Screening leaves out the reasoning texts (its records never carry them): its records must still be
exactly what the full evaluation says, on varied generated patients."""
import json

from bench.cases import make_cases
from cdss import screening
from cdss.evaluation import Evaluator
from schemas.context import PatientContextSchema
from tests.conftest import RULES


def test_screening_records_match_the_full_evaluation(knowledge):
    screening.init_worker(str(RULES))
    full, schema = Evaluator(knowledge, new_id=lambda: ""), PatientContextSchema()
    for line, case in enumerate(make_cases(400, seed=13, knowledge=knowledge), 1):
        record = screening.screen_row(line, "ndjson", json.dumps(case))
        result = full.evaluate(schema.load(case))
        assert (record["classification"], record["causes"], record["recommendations"], record["missing"]) == (
            result["classification"]["type"], result["classification"]["causes"],
            [item["code"] for item in result["recommendations"]], result["missing"]), line
    assert screening._evaluator.combination is not None  # the codes-only combination was the one compared
    assert screening._evaluator.labeller is screening.NoLabels  # and the records were made without labels

