"""Schemas for the rule files under rules/: manifest, facts, value sets, references and rules."""
import re

from marshmallow import Schema, ValidationError, fields, validate, validates

SEMVER = validate.Regexp(r"^\d+\.\d+\.\d+$", error="must be a semantic version such as 1.0.0")
RULE_ID = validate.Regexp(r"^[a-z0-9]+(\.[a-z0-9-]+)+$", error="must be a dotted lower-case id")
CODE = validate.Regexp(r"^[a-z][a-z0-9_]*$", error="must be a lower_snake_case code")
INDICATORS = ("info", "warning", "critical")
OPERATORS = {"$and", "$or", "$lt", "$lte", "$gt", "$gte", "$ex", "$nex"}
# An ICD-10-CM value-set root: a code (with its descendants) or a span of categories such as O00-O9A.
ICD10CM_ROOT = validate.Regexp(r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4}|-[A-Z][0-9][0-9A-Z])?$",
                               error="must be an ICD-10-CM code such as E11.42 or a span such as O00-O9A")
SCTID = validate.Regexp(r"^\d{6,18}$", error="must be a SNOMED CT concept id")
ALIAS = re.compile(r"^(patient|medication|finding)(_[a-z0-9]+)?$")


POPULATIONS = ("pregnancy", "lactation", "child", "dialysis")


def code_pair(value):
    """A pair of two different codes."""
    if len(value) != 2 or value[0] == value[1]:
        raise ValidationError("must be a pair of two different codes")


class RelationsSchema(Schema):
    """How recommendation codes relate; every pair not listed is compatible (may be shown together)."""

    default = fields.String(required=True, validate=validate.OneOf(["compatible"]))
    conflicting = fields.List(fields.List(fields.String(validate=CODE), validate=code_pair), load_default=list)
    supersedes = fields.List(fields.List(fields.String(validate=CODE), validate=code_pair), load_default=list)


class CauseRelationSchema(Schema):
    """How a secondary cause relates to advice: what must accompany it, what it can never be shown with."""

    advice = fields.List(fields.String(validate=CODE), load_default=list)
    contradicted_by = fields.List(fields.String(validate=CODE), load_default=list)


class ValuesetPathsSchema(Schema):
    medications = fields.String(required=True)
    conditions = fields.String(required=True)


class ManifestSchema(Schema):
    id = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9-]+$"))
    version = fields.String(required=True, validate=SEMVER)
    title = fields.String(required=True)
    last_reviewed = fields.Date(required=True)
    topics = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    facts = fields.String(required=True)
    references = fields.String(required=True)
    codes = fields.String(required=True, metadata={"description": "the labelled output codes (codes.yaml)"})
    valuesets = fields.Nested(ValuesetPathsSchema, required=True)
    relations = fields.Nested(RelationsSchema, required=True)
    causes = fields.Dict(keys=fields.String(validate=CODE), values=fields.Nested(CauseRelationSchema),
                         required=True)
    populations = fields.Dict(keys=fields.String(validate=validate.OneOf(POPULATIONS)), values=fields.Dict(),
                              required=True)
    lead_codes = fields.List(fields.String(validate=CODE), load_default=list)


class FactSchema(Schema):
    type = fields.String(required=True, validate=validate.OneOf(["number", "string", "boolean"]))
    unit = fields.String()
    values = fields.List(fields.String())
    report_as = fields.String(required=True)
    label = fields.String(required=True, validate=validate.Length(min=1, max=80))
    value_labels = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)
    description = fields.String()


class FactsSchema(Schema):
    patient = fields.Dict(keys=fields.String(), values=fields.Nested(FactSchema), required=True)
    medication = fields.Dict(keys=fields.String(), values=fields.Nested(FactSchema), required=True)
    finding = fields.Dict(keys=fields.String(), values=fields.Nested(FactSchema), required=True)


class LabelSchema(Schema):
    """A code as a clinician reads it: a label that starts with a capital letter."""

    label = fields.String(required=True, validate=[validate.Length(min=2, max=80), validate.Regexp(
        r"^[A-Z0-9]", error="must start with a capital letter or a digit")])
    description = fields.String()


def labelled(key_validator=CODE):
    """A mapping of codes to their labels."""
    return fields.Dict(keys=fields.String(validate=key_validator), values=fields.Nested(LabelSchema),
                       required=True)


class RecommendationCodeSchema(LabelSchema):
    """A recommendation code names one kind of plan: its label, what the plan is, and whether it is a list."""

    description = fields.String(required=True)
    # items: the plan is a list under one title (one line per medication); its rules share the title.
    items = fields.Boolean(load_default=False)


class CodesSchema(Schema):
    """codes.yaml: every code a rule can output, with its label (the one label source of the API)."""

    recommendations = fields.Dict(keys=fields.String(validate=CODE), values=fields.Nested(RecommendationCodeSchema),
                                  required=True)
    causes = labelled()
    findings = labelled()
    missing = labelled(validate.Regexp(r"^[a-z_]+(\.[a-z_]+)*$", error="must be a context field path"))


class ReferenceSchema(Schema):
    citation = fields.String(required=True)
    url = fields.Url(required=True)
    verified = fields.String(required=True)


EVIDENCE_TIERS = ("high", "moderate", "lower", "case_reports", "none")  # how strongly a class worsens RLS


class IngredientSchema(Schema):
    rxnorm = fields.String(validate=validate.Regexp(r"^\d{1,10}$"))
    brands = fields.List(fields.String(), load_default=list)
    # Other names of the entry (a strength-qualified name such as "doxepin 3 mg"), matched like brands.
    aliases = fields.List(fields.String(validate=validate.Length(min=2, max=120)), load_default=list)
    # RxNorm product codes that mean this entry rather than the ingredient the products table gives them.
    products = fields.List(fields.String(validate=validate.Regexp(r"^\d{1,10}$")), load_default=list)


class MedicationClassSchema(Schema):
    label = fields.String(required=True)
    worsens_rls = fields.Boolean(required=True)
    evidence = fields.String(required=True, validate=validate.OneOf(EVIDENCE_TIERS))
    alternatives = fields.String(required=True)
    ingredients = fields.Dict(keys=fields.String(), values=fields.Nested(IngredientSchema), required=True)


class MedicationValuesetSchema(Schema):
    classes = fields.Dict(keys=fields.String(validate=CODE), values=fields.Nested(MedicationClassSchema),
                          required=True)


class ConditionSchema(Schema):
    label = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(["cause", "associated", "modifier", "context"]))
    cause = fields.String(validate=CODE)
    synonyms = fields.List(fields.String(validate=validate.Length(min=2, max=120)), load_default=list)
    implies = fields.List(fields.String(validate=CODE), load_default=list)
    icd10cm = fields.List(fields.String(validate=ICD10CM_ROOT), load_default=list)
    icd10cm_exclude = fields.List(fields.String(validate=ICD10CM_ROOT), load_default=list)
    snomed = fields.List(fields.String(validate=SCTID), load_default=list)
    snomed_sets = fields.List(fields.String(validate=CODE), load_default=list)
    snomed_exclude = fields.List(fields.String(validate=SCTID), load_default=list)


class ConditionValuesetSchema(Schema):
    conditions = fields.Dict(keys=fields.String(validate=CODE), values=fields.Nested(ConditionSchema),
                             required=True)


class RecommendationOutputSchema(Schema):
    code = fields.String(required=True, validate=CODE)
    title = fields.String(required=True, validate=validate.Length(min=3, max=140))
    detail = fields.String(required=True, validate=validate.Length(min=3, max=1200))
    indicator = fields.String(required=True, validate=validate.OneOf(INDICATORS))


class OutputSchema(Schema):
    recommendation = fields.Nested(RecommendationOutputSchema)
    finding = fields.String(validate=CODE)
    cause = fields.String(validate=CODE)
    classification = fields.String(validate=validate.OneOf(["primary", "undetermined"]))
    withhold_classification = fields.Boolean()
    missing = fields.List(fields.String())


class ExampleSchema(Schema):
    """A case a rule file carries: a native patient context and whether the rule fires for it."""

    context = fields.Dict(required=True)
    fires = fields.Boolean(required=True)
    note = fields.String()


class RuleSchema(Schema):
    id = fields.String(required=True, validate=RULE_ID)
    version = fields.String(required=True, validate=SEMVER)
    title = fields.String(required=True)
    when = fields.Dict(required=True)
    then = fields.Nested(OutputSchema, required=True)
    # Grade and source only ("Conditional, low certainty (AASM; secondary-sourced)"): the page and the cards
    # print it as it stands; remarks for rule authors go in `note`.
    strength = fields.String(required=True, validate=validate.Regexp(
        r"^[A-Z]", error="must start with a capital letter (grade and source only; remarks go in `note`)"))
    note = fields.String(metadata={"description": "a remark for rule authors, never shown as advice"})
    citations = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    rationale = fields.String()
    examples = fields.List(fields.Nested(ExampleSchema), load_default=list)
    # Populations a clinician has read this rule's advice for; `rules check` fails when a recommendation
    # can fire in a population it was not reviewed for.
    reviewed_for = fields.List(fields.String(validate=validate.OneOf(POPULATIONS)), load_default=list)

    @validates("when")
    def validate_when(self, value, **kwargs):
        """A condition is durable_rules' JSON: {all: [{alias: pattern}, ...]}."""
        if set(value) != {"all"} or not isinstance(value["all"], list) or not value["all"]:
            raise ValidationError("must be {all: [{<alias>: <pattern>}, ...]}")
        for term in value["all"]:
            if not isinstance(term, dict) or len(term) != 1:
                raise ValidationError("each term of 'all' must have exactly one alias")
            alias = next(iter(term))
            if not ALIAS.match(alias):
                raise ValidationError(f"alias {alias!r} must be patient, medication or finding (optionally _suffix)")


