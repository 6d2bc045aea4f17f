"""The bodies of a sweep and a frontier: strict JSON, as the request is.

A ``base`` is kept as the JSON object given and parsed by :func:`solver.parse_request`, so that
its errors point into the body (``/base/sites/0/power_mw``).  It is parsed and dumped back to
JSON (:func:`base_request`), so that every scenario request is explicit (catalog entries
resolved, defaults filled in): a scenario's stored request reproduces its plan exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema
from typing_extensions import TypeAliasType

from solver.errors import FieldError, RequestInvalid
from solver.schema import PlanRequest
from solver.validate import field_errors, parse_request

DEFAULT_MAX_SCENARIOS = 1000
"""Default cap on the number of scenarios of one sweep."""
MAX_FRONTIER_POINTS = 101
MAX_VALUE_DEPTH = 32
"""Deepest nesting of lists and objects in a sweep value.  No request field nests nearly as
deep (a whole ``hardware`` list: 6 levels); a deeper value is refused before it is copied, as
copying it (recursively) could exhaust Python's stack."""

Mode = Literal["grid", "one_at_a_time"]
Json = dict[str, Any]


class DescribedAs:
    """``Annotated[T, DescribedAs(U)]``: a field validated as ``T``, whose JSON Schema is
    ``U``'s (a reference to its definition).  A ``base`` is kept as the JSON object given and
    parsed by :func:`solver.parse_request`, so that its errors point into the body
    (``/base/sites/0/power_mw``)."""

    def __init__(self, described: Any) -> None:
        self.described = described

    def __get_pydantic_json_schema__(self, _: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = TypeAdapter(self.described).core_schema
        if "ref" in schema:  # a model: referred to (with its definition), not inlined
            ref = core_schema.definition_reference_schema(schema["ref"])
            schema = core_schema.definitions_schema(ref, [schema])
        return handler(schema)


_SCALAR_KINDS: list[dict[str, Any]] = [{"type": "number"}, {"type": "string"}, {"type": "boolean"}]
SweepValue = TypeAliasType(
    "SweepValue",
    Annotated[
        Any,
        WithJsonSchema(
            {
                "description": "A value for the request field at the parameter's path, which checks "
                "it: a number, a string, a boolean, null, a list (per-period values, or a list "
                "field's items) or an object (a request object).",
                "anyOf": [
                    *_SCALAR_KINDS,
                    {
                        "type": "array",
                        "items": {"anyOf": [*_SCALAR_KINDS, {"type": "object"}, {"type": "null"}]},
                    },
                    {"type": "object"},
                    {"type": "null"},
                ],
            }
        ),
    ],
)
"""A sweep value: any JSON value (validated as given; its JSON Schema is a named one, not
recursive, so that client generators can type it)."""
BaseRequest = Annotated[dict[str, Any], DescribedAs(PlanRequest)]


class _Spec(BaseModel):
    """Strict JSON types, as for the request (:class:`solver.schema.Strict`): a number where a
    number is expected (an integer will do), never a string or a boolean."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


class SweepParameter(_Spec):
    # exactly one of values or scale, the other absent or null: if/then/else rather than a
    # oneOf, which client generators would read as a union of two kinds of parameter
    model_config = ConfigDict(
        json_schema_extra={
            "description": "Give exactly one of values or scale (the other absent or null).",
            "if": {"required": ["values"], "properties": {"values": {"type": "array"}}},
            "then": {"properties": {"scale": {"type": "null"}}},
            "else": {"required": ["scale"], "properties": {"scale": {"type": "array"}}},
        }
    )

    path: str = Field(..., min_length=1, max_length=500, description="e.g. 'sites/tx-1/power_mw'.")
    values: list[SweepValue] | None = Field(
        None, min_length=1, description="Values that replace the base value."
    )
    scale: list[float] | None = Field(
        None, min_length=1, description="Factors that multiply the base value (lists element-wise)."
    )

    @model_validator(mode="after")
    def _one_of(self) -> SweepParameter:
        if (self.values is None) == (self.scale is None):
            raise ValueError("give exactly one of 'values' or 'scale'")
        return self

    @property
    def options(self) -> list[Any]:
        return list(self.values if self.values is not None else self.scale or [])


class SweepSpec(_Spec):
    base: BaseRequest = Field(..., description="The base PlanRequest.")
    parameters: list[SweepParameter] = Field(..., min_length=1)
    mode: Mode = "grid"


class FrontierSpec(_Spec):
    base: BaseRequest = Field(..., description="The base PlanRequest.")
    points: int = Field(9, ge=2, le=MAX_FRONTIER_POINTS, description="Points on the curve, ends included.")


def base_request(raw: Any, prefix: str = "/base") -> Json:
    try:
        return parse_request(raw).model_dump(mode="json")
    except RequestInvalid as exc:
        raise RequestInvalid(
            [FieldError(prefix + e.path.rstrip("/"), e.message) for e in exc.errors]
        ) from None


def parse_spec(model: type[_Spec], data: Any) -> Any:
    if isinstance(data, model):
        return data
    if not isinstance(data, Mapping):
        raise RequestInvalid([FieldError("/", "the body must be a JSON object")])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestInvalid(field_errors(exc, data)) from None
