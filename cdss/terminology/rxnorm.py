"""RxNorm: product codes (SCD, SBD, packs) to ingredient names, and ingredient names read out of drug names.

Real orders carry clinical and branded drug codes, not ingredient codes; the products table
(data/rxnorm-products.tsv, derived from shared/reference/terminology/rxnorm-products.json by
scripts/build_terminology.py, each row with its sources and confidence) gives their ingredients.
A drug name — an RxNorm normalized name such as "24 HR venlafaxine 75 MG Extended Release Oral Capsule",
"sertraline 50 MG Oral Tablet [Zoloft]", "carbidopa 25 MG / levodopa 100 MG Oral Tablet", a tall-man
"traZODone", a salt "haloperidol decanoate" or plain "Reglan" — is read word by word: the longest run
of words that is a known ingredient or brand wins, and strengths, dose forms and salts simply match nothing.
"""
import functools
from dataclasses import dataclass
from pathlib import Path

from cdss.terminology.text import words

PRODUCTS = Path(__file__).parent / "data" / "rxnorm-products.tsv"
KNOWN = Path(__file__).parent / "data" / "rxnorm-known.tsv"
SHORTEST_NAME = 4  # shorter drug names ("tea", "zinc" aside) are words of ordinary text, not evidence of a drug
SYSTEMS = ("http://www.nlm.nih.gov/research/umls/rxnorm", "urn:oid:2.16.840.1.113883.6.88")


@dataclass(frozen=True)
class Product:
    """One RxNorm code of the products table."""

    code: str
    tty: str
    ingredients: tuple
    confidence: str
    display: str


@functools.cache
def load_products():
    """{RxNorm code: Product}, read once per process."""
    products = {}
    for code, tty, ingredients, confidence, display, _sources in table_rows(PRODUCTS):
        products[code] = Product(code, tty, tuple(filter(None, ingredients.split("|"))), confidence, display)
    return products


def table_rows(path):
    """The fields of each data row of one of the module's TSV tables (comments and the header skipped)."""
    with path.open(encoding="utf-8") as rows:
        for row in rows:
            if not (row.startswith("#") or row.startswith("code\t")):
                yield row.rstrip("\n").split("\t")


@dataclass(frozen=True)
class KnownDrugs:
    """Every RxNorm drug the service recognises, relevant to RLS or not: codes and names."""

    codes: dict  # RxNorm code -> (names)
    names: object  # NameReader of the drug names (each name its own value)


@functools.cache
def load_known():
    """The known drugs (data/rxnorm-known.tsv: RxTerms and the harvested value sets), read once per process."""
    codes = {code: tuple(filter(None, names.split("|"))) for code, names in table_rows(KNOWN)}
    aliases = {name: name for names in codes.values() for name in names if len(name) >= SHORTEST_NAME}
    return KnownDrugs(codes, NameReader(aliases))


class NameReader:
    """Finds known ingredient and brand names in a drug's text with dictionary lookups of word runs."""

    def __init__(self, aliases):
        """aliases: {ingredient or brand name: value}; matching is blind to case and punctuation."""
        self.by_words = {}
        for alias, value in aliases.items():
            key = tuple(words(alias))
            if key:
                self.by_words.setdefault(key, value)
        self.longest = max((len(key) for key in self.by_words), default=0)

    def read(self, text):
        """The values of the known names in a text, in order, without repeats."""
        tokens, found, position = words(text), [], 0
        while position < len(tokens):
            for size in range(min(self.longest, len(tokens) - position), 0, -1):
                value = self.by_words.get(tuple(tokens[position:position + size]))
                if value is not None:
                    break
            else:
                size, value = 1, None
            if value is not None and value not in found:
                found.append(value)
            position += size
        return found
