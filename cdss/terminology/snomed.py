"""SNOMED CT: the harvested value sets the service ships, and the check digit every concept id carries."""
import functools
import json
from pathlib import Path

SETS = Path(__file__).parent / "data" / "snomed-valuesets.json"

# Verhoeff's dihedral-group tables: SNOMED CT identifiers end in a Verhoeff check digit
# (SNOMED CT Technical Implementation Guide, 6.6 "Check-digit").
D5 = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
      [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
      [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
      [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]]
PERMUTE = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
           [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
           [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8]]


def well_formed(code):
    """Whether a string is a SNOMED CT concept id: 6-18 digits, no leading zero, a concept partition
    ('00' or '10' before the check digit) and a valid Verhoeff check digit."""
    if not isinstance(code, str) or not code.isdigit() or not 6 <= len(code) <= 18 or code[0] == "0":
        return False
    if code[-3:-1] not in ("00", "10"):
        return False
    check = 0
    for position, digit in enumerate(reversed(code)):
        check = D5[check][PERMUTE[position % 8][int(digit)]]
    return check == 0


@functools.cache
def load_sets():
    """{set name: {concept id: (display, (source, ...))}}, read once per process."""
    data = json.loads(SETS.read_text(encoding="utf-8"))
    sources = data["sources"]
    return {name: {code: (display, tuple(sources[index] for index in indexes)) for code, display, indexes in members}
            for name, members in data["sets"].items()}
