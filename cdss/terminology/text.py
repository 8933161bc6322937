"""Free text as a lookup key: case, punctuation, apostrophes and SNOMED CT semantic tags do not count."""
import re

SEMANTIC_TAG = re.compile(r"\s*\((disorder|finding|procedure|situation|morphologic abnormality|observable entity)\)\s*$",
                          re.I)
NOT_WORD = re.compile(r"[^a-z0-9]+")


def text_key(text):
    """'Parkinson's disease (disorder)' -> 'parkinsons disease'; '' for anything that is not text."""
    if not isinstance(text, str):
        return ""
    stripped = SEMANTIC_TAG.sub("", text.strip()).lower().replace("'", "").replace("\u2019", "")
    return NOT_WORD.sub(" ", stripped).strip()


def words(text):
    """The lookup words of a text, in order."""
    key = text_key(text)
    return key.split() if key else []
