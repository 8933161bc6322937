"""Golden cases: realistic patients whose expected advice a clinician can check by reading the files."""
import json
from pathlib import Path

import pytest

from schemas.evaluation import EvaluationSchema
from tests.golden.regenerate import CASES, evaluate_case

FILES = sorted(CASES.glob("*.json"))


def test_there_are_enough_golden_cases():
    assert len(FILES) >= 25


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.stem)
def test_golden_case(evaluator, path: Path):
    case = json.loads(path.read_text())
    assert case["expected"] == evaluate_case(evaluator, case), case["description"]


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.stem)
def test_golden_case_through_the_api(client, path: Path):
    case = json.loads(path.read_text())
    response = client.post("/api/v1/evaluate", json=case["request"])
    assert response.status_code == 200
    assert response.json["classification"]["type"] == case["expected"]["classification"]
    assert EvaluationSchema().validate(response.json) == {}
