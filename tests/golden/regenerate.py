"""Rewrite the expected outputs of the golden cases from the current rules. Run it on purpose only:
`.venv/bin/python -m tests.golden.regenerate`, then read every changed file before committing."""
import json
from pathlib import Path

from cdss.evaluation import Evaluator
from cdss.loader import load_rules
from schemas.context import PatientContextSchema

CASES = Path(__file__).resolve().parent / "cases"
RULES = Path(__file__).resolve().parents[2] / "rules"


def summarise(result):
    """The part of an evaluation a clinician checks by reading: classification, advice, what is missing."""
    return {
        "classification": result["classification"]["type"],
        "causes": result["classification"]["causes"],
        "associated_conditions": result["classification"]["associated_conditions"],
        "recommendations": [f"{item['indicator']}: {item['code']}: {item['title']}"
                            for item in result["recommendations"]],
        "missing": result["missing"],
    }


def evaluate_case(evaluator, case):
    """The summary of one case's evaluation."""
    return summarise(evaluator.evaluate(PatientContextSchema().load(case["request"])))


def main():
    evaluator = Evaluator(load_rules(RULES))
    for path in sorted(CASES.glob("*.json")):
        case = json.loads(path.read_text())
        case["expected"] = evaluate_case(evaluator, case)
        path.write_text(json.dumps(case, indent=2, ensure_ascii=False) + "\n")
        print(path.name)


if __name__ == "__main__":
    main()
