"""Recognition rate of the FHIR mapping on the fixture families (tests/hooks/fixtures/families).

For each case, every expected item (a lab value, the pregnancy status and trimester, a condition, a
medication ingredient, a phrase the "could not be checked" card must carry) counts as recognised when
the facts the rules see (or the card's notes) hold it. Run from a checkout whose code is measured:

    PYTHONPATH=<checkout> python scripts/fhir_recognition.py [fixtures dir]

It prints one line per family and the total; `--misses` lists what was not recognised.
"""
import importlib.util
import json
import sys
from pathlib import Path

import cdss
from cdss.loader import load_rules
from cdss.vocabulary import Vocabulary

HERE = Path(__file__).resolve().parent.parent / "tests" / "hooks"
DEFAULT = HERE / "fixtures" / "families"
# The scoring lives with the cases; loaded by path so that the code measured can be another checkout's.
SPEC = importlib.util.spec_from_file_location("families", HERE / "families.py")
families = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(families)


def main(argv):
    folder = Path(next((arg for arg in argv if not arg.startswith("--")), DEFAULT))
    knowledge = load_rules(Path(cdss.__file__).resolve().parent.parent / "rules")
    vocabulary = Vocabulary(knowledge.medications, knowledge.conditions)
    totals = {}
    for path in sorted(folder.glob("*.json")):
        case = json.loads(path.read_text(encoding="utf-8"))
        family = path.stem.split("-")[0]
        try:
            mapped, facts = families.mapped_case(case, knowledge, vocabulary)
            got, total, misses = families.score(case, mapped, facts)
        except Exception as error:  # noqa: BLE001 - a crash on a case is measured as recognising nothing
            got, misses = 0, [f"crashed: {type(error).__name__}: {str(error)[:80]}"]
            total = families.score(case, type("Empty", (), {"notes": []})(), [{"kind": "patient"}])[1]
        counts = totals.setdefault(family, [0, 0])
        counts[0] += got
        counts[1] += total
        if "--misses" in argv and misses:
            print(f"  {path.stem}: {'; '.join(misses)}")
    for family, (got, total) in totals.items():
        print(f"{family:8s} {got:3d}/{total:3d} = {100 * got / total:5.1f} %")
    got, total = (sum(values) for values in zip(*totals.values()))
    print(f"{'total':8s} {got:3d}/{total:3d} = {100 * got / total:5.1f} %")


if __name__ == "__main__":
    main(sys.argv[1:])
