"""A marshmallow Schema whose load skips the per-load set-up this project never needs.

marshmallow 4.4 (pinned in requirements.txt) prepares each field of each (nested) schema on every
load: a closure and a `partial` check through `inspect` per schema, an `And` validator built per
field (`Field._validate_all` is a property), and a `deserialize` call for every declared field even
when the key is absent. On the patient context that was ~40% of a load (bench/screening.py). A
`LeanSchema` works the plan out once per schema instance (schemas are built once) and loads with it;
the loaded data, the error messages and their field paths are marshmallow's own, and
tests/test_schema_lean.py compares the two on generated valid and invalid bodies.
"""
from collections.abc import Mapping

from marshmallow import EXCLUDE, INCLUDE, RAISE, Schema, ValidationError
from marshmallow.constants import missing
from marshmallow.validate import And


def no_validation(value):
    """The validation of a field without validators (an empty And): nothing to check."""


class LeanSchema(Schema):
    """A Schema that loads with a per-instance plan; anything unusual goes through marshmallow's own path."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.compile_plan()

    def compile_plan(self):
        """(attribute, field, data key, absent value) per load field, and each field's validators composed once."""
        self._plan = []
        for attr_name, field in self.load_fields.items():
            key = field.data_key if field.data_key is not None else attr_name
            attribute = field.attribute or attr_name
            if "." in attribute:  # marshmallow sets a dotted attribute as nested dicts: use its path
                self._plan = None
                return
            compose_validators(field)
            self._plan.append((attribute, field, key, absent_value(field)))
        self._keys = {key for _, _, key, _ in self._plan}

    def _deserialize(self, data, *, error_store, many=False, partial=None, unknown=RAISE, index=None):
        """marshmallow's `Schema._deserialize` for one object without `partial`, with the plan."""
        if many or partial is not None or self._plan is None:
            return super()._deserialize(data, error_store=error_store, many=many, partial=partial,
                                        unknown=unknown, index=index)
        index = index if self.opts.index_errors else None
        result = self.dict_class()
        if not isinstance(data, Mapping):
            error_store.store_error([self.error_messages["type"]], index=index)
            return result
        for attribute, field, key, absent in self._plan:
            raw = data.get(key, missing)
            if raw is missing and absent is not REQUIRED:  # Field.deserialize would return the default
                if absent is not missing:
                    result[attribute] = absent() if callable(absent) else absent
                continue
            try:
                value = field.deserialize(raw, key, data)
            except ValidationError as error:
                error_store.store_error(error.messages, key, index=index)
                value = error.valid_data or missing
            if value is not missing:
                result[attribute] = value
        if unknown != EXCLUDE:
            for key in set(data) - self._keys:
                if unknown == INCLUDE:
                    result[key] = data[key]
                elif unknown == RAISE:
                    error_store.store_error([self.error_messages["unknown"]], key, index)
        return result


REQUIRED = object()  # an absent required field: Field.deserialize raises its "required" error


def absent_value(field):
    """What an absent key loads as: REQUIRED, marshmallow's `missing` (nothing), or the load default."""
    return REQUIRED if field.required else field.load_default


def compose_validators(field):
    """Compose a field's validators once: the same `And` marshmallow builds on every call of `_validate`."""
    field._validate = And(*field.validators) if field.validators else no_validation  # noqa: SLF001
    inner = getattr(field, "inner", None)  # a List's item field
    if inner is not None:
        compose_validators(inner)
