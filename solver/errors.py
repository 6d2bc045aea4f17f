"""Errors raised by the solver library (no HTTP codes: the service maps them)."""

from __future__ import annotations

from dataclasses import dataclass


def pointer_token(key: object) -> str:
    """One JSON-pointer reference token (RFC 6901): ``~`` and ``/`` escaped."""
    return str(key).replace("~", "~0").replace("/", "~1")


def quoted(value: object, most: int = 64) -> str:
    """An input string as error messages quote it: repr, cut to ``most`` characters."""
    text = str(value)
    return repr(text if len(text) <= most else text[:most] + "...")


@dataclass(frozen=True)
class FieldError:
    """One problem with a request: where (a JSON pointer) and what."""

    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class ValueErrorAt(ValueError):
    """A validator's error about a place inside the value it checks: ``pointer`` is that place,
    a JSON pointer relative to the value (``/performance/llama-70b``).
    :func:`solver.validate.field_errors` appends it to the value's own path."""

    def __init__(self, pointer: str, message: str) -> None:
        super().__init__(message)
        self.pointer = pointer


class CapplanError(Exception):
    """Base of every error the library raises."""


class RequestInvalid(CapplanError):
    """The request breaks the contract; ``errors`` names every offending field."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        first = errors[0] if errors else FieldError("", "invalid request")
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{first.path or '/'}: {first.message}{more}")


class CheckTooLong(CapplanError):
    """Checking the request took longer than the caller's budget (a sweep checks each of its
    scenarios: their number times the base's length)."""

    def __init__(self, message: str, budget_s: float) -> None:
        self.budget_s = budget_s
        super().__init__(message)


class ModelTooLarge(CapplanError):
    """The model would exceed the configured size limit: its columns (``variables``), or a
    table derived from the request (``table``, of ``size`` entries) whatever its columns."""

    def __init__(self, variables: int, limit: int, table: str | None = None, size: int | None = None) -> None:
        self.variables = variables
        self.limit = limit
        self.table = table
        self.size = variables if size is None else size
        if table is None:
            super().__init__(f"the model needs {variables} variables, more than the limit {limit}")
        else:
            super().__init__(f"the request derives {self.size} {table}, more than the limit {limit}")
