"""The native patient context posted to /api/v1/evaluate, validated and converted to canonical units."""
import datetime as dt
import math

from marshmallow import ValidationError, fields, post_load, validate, validates, validates_schema

from cdss.units import TESTS, UnitError, in_range, to_canonical
from schemas.lean import LeanSchema

MAX_ITEMS = 100
CRITERIA = ("urge_to_move", "worse_at_rest", "relieved_by_movement", "worse_in_evening",
            "not_explained_by_other_condition")


class FiniteNumber(fields.Float):
    """A JSON number (never a boolean or a string) that is finite."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError("must be a number")
        try:  # a 401-digit integer overflows a float; 1e400 was already read as infinity
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise ValidationError("must be a finite number (this one is too large or not a number)")
        return number


class StrictInteger(fields.Integer):
    """A JSON integer: no strings, no booleans, no fractions."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValidationError("must be a finite whole number")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            raise ValidationError("must be a whole number")
        return int(value)


class StrictBoolean(fields.Boolean):
    """true, false or null, and nothing else: 0 and 1 equal False and True in Python, never here."""

    def __init__(self, **kwargs):
        super().__init__(allow_none=True, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError("must be a boolean: true, false or null")
        return value


class PatientSchema(LeanSchema):
    id = fields.String(validate=validate.Length(min=1, max=128))
    age = FiniteNumber(validate=validate.Range(min=0, max=130, error="must be between 0 and 130 years"))
    birth_date = fields.Date()
    sex = fields.String(validate=validate.OneOf(["female", "male", "other", "unknown"]))
    # Body weight in kg: the IV iron dose is weight-based under 50 kg (ferric carboxymaltose label).
    weight_kg = FiniteNumber(validate=validate.Range(min=0, max=400, min_inclusive=False,
                                                     error="must be above 0 and at most 400 kg"))

    @validates("birth_date")
    def validate_birth_date(self, value, **kwargs):
        """A birth date lies in the past and at most 130 years ago."""
        today = dt.date.today()
        if value > today:
            raise ValidationError("must not be in the future")
        if (today - value).days > 130 * 366:
            raise ValidationError("implies an age over 130 years")


class LabSchema(LeanSchema):
    value = FiniteNumber(required=True)
    unit = fields.String(required=True, validate=validate.Length(min=1, max=32))
    taken_at = fields.AwareDateTime(format="iso", default_timezone=dt.timezone.utc)


class LabsSchema(LeanSchema):
    ferritin = fields.Nested(LabSchema)
    tsat = fields.Nested(LabSchema)
    folate = fields.Nested(LabSchema)
    hemoglobin = fields.Nested(LabSchema)
    serum_iron = fields.Nested(LabSchema)
    tibc = fields.Nested(LabSchema)

    @post_load
    def convert(self, data, **kwargs):
        """Convert each result to its canonical unit; unknown units and impossible values are errors."""
        errors, labs = {}, {}
        for test, lab in data.items():
            try:
                value, unit = to_canonical(test, lab["value"], lab["unit"])
            except UnitError as error:
                errors.setdefault(test, {})["unit"] = [str(error)]
                continue
            if not in_range(test, value):
                spec = TESTS[test]
                errors.setdefault(test, {})["value"] = [
                    f"{lab['value']:g} {lab['unit']} is outside the possible range "
                    f"{spec.low:g}-{spec.high:g} {spec.canonical}"]
                continue
            labs[test] = {"value": value, "unit": unit, "reported": {"value": lab["value"], "unit": lab["unit"]}}
            if "taken_at" in lab:
                labs[test]["taken_at"] = lab["taken_at"].isoformat()
        iron, tibc = labs.get("serum_iron"), labs.get("tibc")
        if iron and tibc and iron["value"] > tibc["value"]:
            errors["serum_iron"] = {"value": ["cannot exceed TIBC (transferrin saturation over 100%)"]}
        if errors:
            raise ValidationError(errors)
        return labs


class PregnancySchema(LeanSchema):
    status = fields.String(required=True, validate=validate.OneOf(["pregnant", "postpartum", "not_pregnant"]))
    trimester = StrictInteger(validate=validate.Range(min=1, max=3, error="must be 1, 2 or 3"))
    weeks_postpartum = FiniteNumber(validate=validate.Range(min=0, max=520, error="must be between 0 and 520"))

    @validates_schema
    def validate_consistency(self, data, **kwargs):
        """Trimester belongs to a pregnancy, weeks postpartum to the postpartum period."""
        if "trimester" in data and data.get("status") != "pregnant":
            raise ValidationError("is only allowed when status is pregnant", "trimester")
        if "weeks_postpartum" in data and data.get("status") != "postpartum":
            raise ValidationError("is only allowed when status is postpartum", "weeks_postpartum")


class MedicationSchema(LeanSchema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    rxnorm = fields.String(validate=validate.Regexp(r"^\d{1,10}$", error="must be an RxNorm code (digits)"))
    # When the medication was started (for IV iron: given): how long oral iron has been taken, how recent
    # an IV iron dose is. Not after `as_of`.
    start_date = fields.Date()

    @validates_schema
    def validate_identified(self, data, **kwargs):
        """A medication needs a name or an RxNorm code."""
        if not data.get("name") and not data.get("rxnorm"):
            raise ValidationError("a medication needs a name or an rxnorm code", "_schema")


class AllergySchema(LeanSchema):
    """An allergy or intolerance: the substance by name and/or RxNorm code, as for medications."""

    name = fields.String(validate=validate.Length(min=1, max=200))
    rxnorm = fields.String(validate=validate.Regexp(r"^\d{1,10}$", error="must be an RxNorm code (digits)"))
    reaction = fields.String(validate=validate.Length(min=1, max=200))
    severity = fields.String(validate=validate.OneOf(["mild", "moderate", "severe"]))

    @validates_schema
    def validate_identified(self, data, **kwargs):
        """An allergy needs a substance name or an RxNorm code."""
        if not data.get("name") and not data.get("rxnorm"):
            raise ValidationError("an allergy needs a name or an rxnorm code", "_schema")


class ConditionSchema(LeanSchema):
    error_messages = {"type": 'must be an object: {"system", "code"}, {"name"} or {"text": "..."}'}

    system = fields.String(validate=validate.OneOf(["icd-10-cm", "snomed"]))
    code = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9.]{1,20}$", error="must be a code"))
    name = fields.String(validate=validate.Length(min=1, max=64))
    text = fields.String(validate=validate.Length(min=1, max=200), metadata={
        "description": "the condition in words, as on a problem list (\"Hereditary hemochromatosis\"): matched "
                       "against the vocabulary's names and synonyms (GET /api/v1/vocabulary) as FHIR "
                       "Condition.code.text is; with a code, used when the code is not recognised. Text that "
                       "matches nothing is listed under `unrecognized`, never an error"})

    @validates_schema
    def validate_identified(self, data, **kwargs):
        """A condition is a {system, code} pair, a vocabulary name, and/or a text."""
        if ("system" in data) != ("code" in data):
            raise ValidationError("system and code go together", "code" if "system" in data else "system")
        if "name" in data and "text" in data:
            raise ValidationError("a condition has a vocabulary name or a free text, not both", "text")
        if "text" in data and not data["text"].strip():
            raise ValidationError("must not be blank", "text")
        if "code" not in data and "name" not in data and "text" not in data:
            raise ValidationError("a condition needs {system, code}, a name or a text", "_schema")


class CriteriaSchema(LeanSchema):
    urge_to_move = StrictBoolean()
    worse_at_rest = StrictBoolean()
    relieved_by_movement = StrictBoolean()
    worse_in_evening = StrictBoolean()
    not_explained_by_other_condition = StrictBoolean()


class RlsSchema(LeanSchema):
    onset_age = FiniteNumber(validate=validate.Range(min=0, max=130, error="must be between 0 and 130 years"))
    family_history = StrictBoolean()
    criteria = fields.Nested(CriteriaSchema)
    # Whether the symptoms are clinically significant (their frequency, distress or impact on sleep and
    # daily life call for treatment); treatment advice beyond iron depends on it. Absent or null: not known.
    clinically_significant = StrictBoolean()


class PatientContextSchema(LeanSchema):
    """The whole request body of /api/v1/evaluate. Every section is optional."""

    patient = fields.Nested(PatientSchema, load_default=dict)
    labs = fields.Nested(LabsSchema, load_default=dict)
    pregnancy = fields.Nested(PregnancySchema)
    medications = fields.List(fields.Nested(MedicationSchema), load_default=list,
                              validate=validate.Length(max=MAX_ITEMS))
    conditions = fields.List(fields.Nested(ConditionSchema), load_default=list,
                             validate=validate.Length(max=MAX_ITEMS))
    rls = fields.Nested(RlsSchema, load_default=dict)
    allergies = fields.List(fields.Nested(AllergySchema), load_default=list,
                            validate=validate.Length(max=MAX_ITEMS))
    # The date the context describes ("today" for ages and medication durations); default: the server's
    # date (UTC) at load. A stored context carries it, so a replay gives the same advice.
    as_of = fields.Date()

    @validates("as_of")
    def validate_as_of(self, value, **kwargs):
        """as_of is not later than tomorrow (UTC): a context cannot describe the future."""
        if value > utc_today() + dt.timedelta(days=1):
            raise ValidationError("must not be in the future")

    @validates_schema
    def validate_started(self, data, **kwargs):
        """A medication cannot start after the date the context describes."""
        as_of = data.get("as_of") or utc_today()
        errors = {index: {"start_date": [f"is after as_of ({as_of.isoformat()})"]}
                  for index, entry in enumerate(data.get("medications", []))
                  if entry.get("start_date") and entry["start_date"] > as_of}
        if errors:
            raise ValidationError(errors, "medications")

    @validates_schema
    def validate_consistency(self, data, **kwargs):
        """Cross-section checks: pregnancy needs a sex that allows it; RLS onset cannot follow today."""
        sex = data.get("patient", {}).get("sex")
        status = data.get("pregnancy", {}).get("status")
        if status in ("pregnant", "postpartum") and sex == "male":
            raise ValidationError({"status": [f"{status} is impossible for sex male"]}, "pregnancy")
        age = age_in_years(data.get("patient", {}), data.get("as_of"))
        onset = data.get("rls", {}).get("onset_age")
        if age is not None and onset is not None and onset > age + 1:
            raise ValidationError({"onset_age": ["is later than the patient's age"]}, "rls")

    @post_load
    def derive_age(self, data, **kwargs):
        """Carry one age in years (from `age` or `birth_date`, as of `as_of`) and dates as ISO strings."""
        as_of = data.get("as_of") or utc_today()
        age = age_in_years(data["patient"], as_of)
        if age is not None:
            data["patient"]["age"] = age
        data["patient"].pop("birth_date", None)
        data["as_of"] = as_of.isoformat()
        for entry in data["medications"]:
            if "start_date" in entry:
                entry["start_date"] = entry["start_date"].isoformat()
        return data


def utc_today():
    """Today's date in UTC (the service's clock)."""
    return dt.datetime.now(dt.timezone.utc).date()


def age_in_years(patient, today=None):
    """Age in whole years from `age` or `birth_date`, or None when neither is given."""
    if "age" in patient:
        return patient["age"]
    born = patient.get("birth_date")
    if born is None:
        return None
    today = today or dt.date.today()
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
