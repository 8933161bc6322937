"""Response schemas of the native API: evaluation, knowledge base, vocabulary, errors."""
from marshmallow import Schema, fields

INDICATORS = ("info", "warning", "critical")




def labels(description):
    """A code -> label mapping, documented."""
    return fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                       metadata={"description": description})


class ReadableFactSchema(Schema):
    fact = fields.String(required=True, metadata={"description": "the key in `facts`"})
    label = fields.String(required=True, metadata={"description": "the fact as a clinician reads it: 'Ferritin'"})
    value = fields.String(required=True, metadata={"description": "the value as text, with its unit: '30 ng/mL'"})


class ReasoningSchema(Schema):
    rule = fields.String(required=True, metadata={"description": "id of the rule that fired"})
    version = fields.String(required=True)
    title = fields.String(required=True)
    statement = fields.String(required=True, metadata={"description": "the true parts of the rule's condition, with values"})
    facts = fields.Dict(required=True, metadata={"description": "the facts that made it fire, keyed with their unit"})
    readable_facts = fields.List(fields.Nested(ReadableFactSchema), required=True,
                                 metadata={"description": "`facts` with labels and value text, in the same order"})
    chain = fields.List(fields.Nested(lambda: ReasoningSchema()), metadata={"description": "rules whose findings this rule used"})


class ReferenceSchema(Schema):
    citation = fields.String(required=True)
    url = fields.String(required=True)


class RecommendationSchema(Schema):
    code = fields.String(required=True)
    label = fields.String(required=True, metadata={"description": "the code as a clinician reads it ("
                                                                  "codes.yaml); `title` is this patient's advice"})
    title = fields.String(required=True)
    detail = fields.String(required=True)
    indicator = fields.String(required=True, metadata={"enum": list(INDICATORS)})
    strength = fields.String(required=True)
    reasoning = fields.List(fields.Nested(ReasoningSchema), required=True)
    references = fields.List(fields.Nested(ReferenceSchema), required=True)


class ClassificationSchema(Schema):
    type = fields.String(required=True, metadata={"enum": ["primary", "secondary", "undetermined"]})
    causes = fields.List(fields.String(), required=True)
    associated_conditions = fields.List(fields.String(), required=True)
    cause_labels = labels("each cause with its label: {\"iron_deficiency\": \"Iron deficiency\"}")
    associated_condition_labels = labels("each associated condition with its label (condition value set)")
    reasoning = fields.List(fields.Nested(ReasoningSchema), required=True)


class RulesetIdentitySchema(Schema):
    id = fields.String(required=True)
    version = fields.String(required=True)
    digest = fields.String(required=True)


class FiredRuleSchema(Schema):
    rule = fields.String(required=True)
    version = fields.String(required=True)


class EvaluationSchema(Schema):
    evaluation_id = fields.String(required=True)
    ruleset = fields.Nested(RulesetIdentitySchema, required=True)
    classification = fields.Nested(ClassificationSchema, required=True)
    recommendations = fields.List(fields.Nested(RecommendationSchema), required=True)
    missing = fields.List(fields.String(), required=True)
    missing_labels = labels("each missing item with its label: {\"pregnancy.trimester\": \"Trimester of pregnancy\"}")
    unrecognized = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), required=True)
    fired_rules = fields.List(fields.Nested(FiredRuleSchema), required=True)


class RuleOutputSchema(Schema):
    recommendation = fields.Dict()
    finding = fields.String()
    cause = fields.String()
    classification = fields.String()
    withhold_classification = fields.Boolean()
    missing = fields.List(fields.String())


class RuleSummarySchema(Schema):
    id = fields.String(required=True)
    version = fields.String(required=True)
    title = fields.String(required=True)
    topic = fields.String(required=True)
    condition = fields.Dict(required=True, metadata={"description": "durable_rules JSON condition, as written"})
    condition_text = fields.String(required=True)
    outputs = fields.Nested(RuleOutputSchema, required=True)
    strength = fields.String(required=True)
    rationale = fields.String()
    note = fields.String(metadata={"description": "a remark for rule authors (e.g. what was not verified)"})
    citations = fields.List(fields.Nested(ReferenceSchema), required=True)
    reviewed_for = fields.List(fields.String(), metadata={
        "description": "populations (pregnancy, lactation, child, dialysis) a clinician read this rule's advice for"})


class KnowledgeBaseSchema(Schema):
    ruleset = fields.Nested(RulesetIdentitySchema, required=True)
    last_reviewed = fields.String(required=True)
    rules = fields.List(fields.Nested(RuleSummarySchema), required=True)


class ErrorBodySchema(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    fields = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)


class StoredEvaluationSchema(Schema):
    """The audit record of an evaluation: no patient data beyond a salted hash of the patient id."""

    id = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    source = fields.String(required=True)
    ruleset_id = fields.String(required=True)
    ruleset_version = fields.String(required=True)
    ruleset_digest = fields.String(required=True)
    fired_rules = fields.List(fields.Dict(), required=True)
    classification = fields.String(required=True)
    causes = fields.List(fields.String(), required=True)
    recommendation_codes = fields.List(fields.String(), required=True)
    patient_hash = fields.String(allow_none=True)


class ConditionTermSchema(Schema):
    label = fields.String(required=True)
    role = fields.String(required=True, metadata={"enum": ["cause", "associated", "modifier", "context"]})
    cause = fields.String(required=True, allow_none=True, metadata={"description": "the secondary cause it names"})
    icd10cm = fields.List(fields.String(), required=True, metadata={"description": "codes and code prefixes matched"})
    icd10cm_exclude = fields.List(fields.String(), required=True, metadata={
        "description": "codes and code prefixes under those roots that do not count"})
    snomed = fields.List(fields.String(), required=True, metadata={"description": "SNOMED CT concepts listed one by one"})
    snomed_sets = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True, metadata={
        "description": "SNOMED CT value sets (harvested, see the README) whose concepts count: name -> concepts"})
    snomed_exclude = fields.List(fields.String(), required=True, metadata={
        "description": "SNOMED CT concepts of those sets that do not count"})
    synonyms = fields.List(fields.String(), required=True, metadata={
        "description": "words matched, like the label, against a condition given as text (native `text`, FHIR "
                       "Condition.code.text), case and punctuation aside"})
    implies = fields.List(fields.String(), required=True, metadata={
        "description": "conditions this one also counts as (names of this vocabulary)"})


class MedicationClassSchema(Schema):
    label = fields.String(required=True)
    worsens_rls = fields.Boolean(required=True)
    evidence = fields.String(required=True, metadata={"enum": ["high", "moderate", "lower", "case_reports", "none"]})
    ingredients = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True), required=True,
                              metadata={"description": "ingredient name -> RxNorm ingredient code (null if unverified)"})


class LabUnitsSchema(Schema):
    canonical_unit = fields.String(required=True)
    accepted_units = fields.List(fields.String(), required=True)


class VocabularySchema(Schema):
    """The names the native API accepts."""

    conditions = fields.Dict(keys=fields.String(), values=fields.Nested(ConditionTermSchema), required=True)
    medications = fields.Dict(keys=fields.String(), values=fields.Nested(MedicationClassSchema), required=True,
                              metadata={"description": "medication classes by id"})
    labs = fields.Dict(keys=fields.String(), values=fields.Nested(LabUnitsSchema), required=True)
