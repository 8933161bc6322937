"""ICD-10-CM from the CDC files simple-icd-10-cm ships: which codes exist and what a value-set root covers.

The package's own API parses the 9.7 MB tabular XML at import (about 4 s and 190 MB on this machine),
so the service reads the package's code list instead: every chapter, block, category and code of the
tabular list in tabular order (0.8 MB, about 0.1 s). Below the category level ICD-10-CM is a strict
prefix hierarchy (E11 > E11.4 > E11.42), so the descendants of a code are the codes that follow it and
start with it; tests/test_terminology.py checks this against the package's get_descendants.
"""
import functools
import importlib.metadata
import re
from pathlib import Path

PACKAGE = "simple-icd-10-cm"
CODE_LIST = re.compile(r"simple_icd_10_cm/data/code-list-.*\.txt$")
CODE = re.compile(r"^[A-Z][0-9][0-9A-Z](\.?[0-9A-Z]{1,4})?$")
RANGE = re.compile(r"^([A-Z][0-9][0-9A-Z])-([A-Z][0-9][0-9A-Z])$")


def normalise(code):
    """'e11.42 ' -> 'E1142' (the form the code list uses), or None when it is not shaped like a code."""
    if not isinstance(code, str):
        return None
    folded = code.strip().upper()
    return folded.replace(".", "") if CODE.match(folded) else None


def dotted(code):
    """'E1142' -> 'E11.42' (how clinicians and FHIR write it)."""
    return code if len(code) <= 3 else f"{code[:3]}.{code[3:]}"


class CodeSystem:
    """The ICD-10-CM tabular list: validity of a code and the codes a value-set root covers."""

    def __init__(self, items, release):
        self.release = release
        self.items = items  # tabular order: chapters ("9"), blocks ("G35-G37"), categories, codes
        self.index = {}
        for position, item in enumerate(items):
            self.index.setdefault(item, position)

    def valid(self, code):
        """Whether a code (dotted or not) is a category or code of this release."""
        key = normalise(code)
        return key is not None and key in self.index

    def descendants(self, code):
        """The code and every code below it, in tabular order (dotless); [] when the code does not exist."""
        key = normalise(code)
        start = self.index.get(key) if key else None
        if start is None:
            return []
        found = [key]
        for item in self.items[start + 1:]:
            if not item.startswith(key):
                break
            found.append(item)
        return found

    def expand(self, root):
        """The codes of a value-set root: 'G35' (with descendants) or a span of categories 'O00-O9A'."""
        span = RANGE.match(root.strip().upper())
        if not span:
            return self.descendants(root)
        first, last = span.groups()
        if first not in self.index or last not in self.index:
            return []
        end = self.index[last] + len(self.descendants(last))
        return [item for item in self.items[self.index[first]:end] if normalise(item) == item]

    def exists(self, root):
        """Whether a value-set root names codes of this release."""
        return bool(self.expand(root))


def package_files():
    """(version, code-list path) of the installed simple-icd-10-cm, found without importing it."""
    distribution = importlib.metadata.distribution(PACKAGE)
    listed = [path for path in distribution.files or () if CODE_LIST.search(str(path))]
    if not listed:
        raise RuntimeError(f"{PACKAGE} {distribution.version} ships no code list")
    return distribution.version, Path(distribution.locate_file(listed[0]))


@functools.cache
def load():
    """The code system, read once per process from the installed package's code list.

    simple-icd-10-cm 1.5.0 carries the CDC's FY2026 release (April 1 2026 update): G35.A-G35.D and
    G20.A1-G20.C are in it, and so is every code of shared/reference/terminology/icd10cm-codes.json
    (checked by scripts/build_terminology.py), so nothing needs merging in."""
    version, path = package_files()
    return CodeSystem(path.read_text(encoding="utf-8").split(), f"ICD-10-CM {fiscal_year(path.name)}, {PACKAGE} {version}")


def fiscal_year(file_name):
    """'code-list-April-2026.txt' -> 'FY2026' (a US fiscal year starts on October 1)."""
    found = re.search(r"-([A-Za-z]+)-(\d{4})", file_name)
    if not found:
        return "release unknown"
    month, year = found.group(1).lower()[:3], int(found.group(2))
    return f"FY{year + 1 if month in ('oct', 'nov', 'dec') else year}"
