"""CDS Hooks 2.0 objects (HL7 CDS Hooks, tag v2.0.1): requests, cards, discovery and feedback.

Spec §Use of JSON: optional members without a value are omitted, never null or empty; the dump
schemas here are used after `prune`, and the load schemas refuse what the spec says SHALL be present.
"""
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

NON_EMPTY = validate.Length(min=1)
INDICATORS = ("info", "warning", "critical")


class ExtensionField(fields.Dict):
    """`extension`: a JSON object with reverse-domain-name keys (spec §Extensions)."""

    def __init__(self, **kwargs):
        super().__init__(keys=fields.String(validate=NON_EMPTY), **kwargs)


class LenientSchema(Schema):
    """Incoming CDS Hooks objects: members this version does not define are ignored, not refused."""

    class Meta:
        unknown = EXCLUDE


# --- The request (spec §Calling a CDS Service) ---------------------------------------------------

class FhirAuthorizationSchema(LenientSchema):
    access_token = fields.String(required=True, validate=NON_EMPTY)
    token_type = fields.String(required=True, validate=validate.OneOf(["Bearer", "bearer"]))
    expires_in = fields.Integer(required=True, strict=True)
    scope = fields.String(required=True, validate=NON_EMPTY)
    subject = fields.String(required=True, validate=NON_EMPTY)
    patient = fields.String(validate=NON_EMPTY)


class HookRequestSchema(LenientSchema):
    hook = fields.String(required=True, validate=NON_EMPTY)
    hookInstance = fields.String(required=True, validate=validate.Length(min=1, max=256))
    fhirServer = fields.Url(schemes={"http", "https"}, require_tld=False)
    fhirAuthorization = fields.Nested(FhirAuthorizationSchema)
    context = fields.Dict(required=True, keys=fields.String())
    prefetch = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True))
    extension = ExtensionField()

    @validates_schema
    def validate_fhir_server(self, data, **kwargs):
        """`fhirServer` is REQUIRED when `fhirAuthorization` is provided."""
        if "fhirAuthorization" in data and "fhirServer" not in data:
            raise ValidationError("is required when fhirAuthorization is given", "fhirServer")
        for key, value in (data.get("prefetch") or {}).items():
            if value is not None and not isinstance(value, dict):
                raise ValidationError({key: ["must be a FHIR resource or null"]}, "prefetch")


class PatientViewContextSchema(LenientSchema):
    """patient-view (hook version 1.0): the chart of `patientId` was opened by `userId`."""

    userId = fields.String(required=True, validate=NON_EMPTY)
    patientId = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9\-.]{1,64}$"))
    encounterId = fields.String(validate=NON_EMPTY)


class DraftOrdersField(fields.Dict):
    """`draftOrders`: a FHIR Bundle of draft request resources."""

    def _deserialize(self, value, attr, data, **kwargs):
        bundle = super()._deserialize(value, attr, data, **kwargs)
        if bundle.get("resourceType") != "Bundle":
            raise ValidationError("must be a FHIR Bundle")
        entries = bundle.get("entry", [])
        if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
            raise ValidationError("entry must be a list of Bundle entries")
        return bundle


class OrderSignContextSchema(PatientViewContextSchema):
    """order-sign (hook version 1.0): the draft orders about to be signed."""

    draftOrders = DraftOrdersField(required=True)


class OrderSelectContextSchema(OrderSignContextSchema):
    """order-select (hook version 1.0): `selections` are the orders just chosen among `draftOrders`."""

    selections = fields.List(fields.String(validate=NON_EMPTY), required=True, validate=NON_EMPTY)


CONTEXT_SCHEMAS = {"patient-view": PatientViewContextSchema, "order-select": OrderSelectContextSchema,
                   "order-sign": OrderSignContextSchema}


# --- The response (spec §CDS Service Response) ---------------------------------------------------

class CodingSchema(Schema):
    code = fields.String(required=True, validate=NON_EMPTY)
    system = fields.String(required=True, validate=NON_EMPTY)
    display = fields.String(validate=NON_EMPTY)


class OverrideCodingSchema(CodingSchema):
    """Override reasons a service returns SHALL carry a display."""

    display = fields.String(required=True, validate=NON_EMPTY)


class SourceSchema(Schema):
    label = fields.String(required=True, validate=NON_EMPTY)
    url = fields.Url(require_tld=False)
    icon = fields.Url(require_tld=False)
    topic = fields.Nested(CodingSchema)


class ActionSchema(Schema):
    type = fields.String(required=True, validate=validate.OneOf(["create", "update", "delete"]))
    description = fields.String(required=True, validate=NON_EMPTY)
    resource = fields.Dict()
    resourceId = fields.String(validate=NON_EMPTY)

    @validates_schema
    def validate_target(self, data, **kwargs):
        """create/update carry the whole resource; delete names it."""
        if data.get("type") in ("create", "update") and "resource" not in data:
            raise ValidationError("is required for create and update", "resource")
        if data.get("type") == "delete" and "resourceId" not in data:
            raise ValidationError("is required for delete", "resourceId")


class SuggestionSchema(Schema):
    label = fields.String(required=True, validate=NON_EMPTY)
    uuid = fields.String(validate=NON_EMPTY)
    isRecommended = fields.Boolean()
    actions = fields.List(fields.Nested(ActionSchema), validate=NON_EMPTY)


class LinkSchema(Schema):
    label = fields.String(required=True, validate=NON_EMPTY)
    url = fields.Url(required=True, require_tld=False)
    type = fields.String(required=True, validate=validate.OneOf(["absolute", "smart"]))
    appContext = fields.String(validate=NON_EMPTY)


class CardSchema(Schema):
    uuid = fields.String(validate=NON_EMPTY)
    summary = fields.String(required=True, validate=validate.Length(min=1, max=139))  # "<140-character"
    detail = fields.String(validate=NON_EMPTY)
    indicator = fields.String(required=True, validate=validate.OneOf(INDICATORS))
    source = fields.Nested(SourceSchema, required=True)
    suggestions = fields.List(fields.Nested(SuggestionSchema), validate=NON_EMPTY)
    selectionBehavior = fields.String(validate=validate.OneOf(["at-most-one", "any"]))
    overrideReasons = fields.List(fields.Nested(OverrideCodingSchema), validate=NON_EMPTY)
    links = fields.List(fields.Nested(LinkSchema), validate=NON_EMPTY)
    extension = ExtensionField()

    @validates_schema
    def validate_selection(self, data, **kwargs):
        """If suggestions are present, selectionBehavior MUST also be provided."""
        if data.get("suggestions") and "selectionBehavior" not in data:
            raise ValidationError("is required when suggestions are given", "selectionBehavior")


class HookResponseSchema(Schema):
    cards = fields.List(fields.Nested(CardSchema), required=True)
    systemActions = fields.List(fields.Nested(ActionSchema), validate=NON_EMPTY)


# --- Discovery (spec §Discovery) -------------------------------------------------------------------

class ServiceSchema(Schema):
    hook = fields.String(required=True)
    title = fields.String()
    description = fields.String(required=True)
    id = fields.String(required=True)
    prefetch = fields.Dict(keys=fields.String(), values=fields.String())
    usageRequirements = fields.String()


class DiscoverySchema(Schema):
    services = fields.List(fields.Nested(ServiceSchema), required=True)


# --- Feedback (spec §Feedback) ---------------------------------------------------------------------

class AcceptedSuggestionSchema(LenientSchema):
    id = fields.String(required=True, validate=NON_EMPTY)


class FeedbackCodingSchema(LenientSchema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=256))
    system = fields.String(required=True, validate=validate.Length(min=1, max=512))
    display = fields.String(validate=validate.Length(max=512))


class OverrideReasonSchema(LenientSchema):
    reason = fields.Nested(FeedbackCodingSchema)
    userComment = fields.String(validate=validate.Length(max=2000))


class FeedbackItemSchema(LenientSchema):
    card = fields.String(required=True, validate=validate.Length(min=1, max=64))
    outcome = fields.String(required=True, validate=validate.OneOf(["accepted", "overridden"]))
    acceptedSuggestions = fields.List(fields.Nested(AcceptedSuggestionSchema), validate=validate.Length(max=50))
    overrideReason = fields.Nested(OverrideReasonSchema)
    # RFC 3339 section 5.6, in UTC; an offset is converted, a time without one is refused.
    outcomeTimestamp = fields.AwareDateTime(required=True, format="iso")

    @validates_schema
    def validate_outcome(self, data, **kwargs):
        """acceptedSuggestions is required for `accepted` outcomes."""
        if data.get("outcome") == "accepted" and not data.get("acceptedSuggestions"):
            raise ValidationError("is required when outcome is accepted", "acceptedSuggestions")


class FeedbackSchema(LenientSchema):
    feedback = fields.List(fields.Nested(FeedbackItemSchema), required=True,
                           validate=validate.Length(min=1, max=100))
