"""Pydantic's validation errors in the config's own words: the key path as written in TOML,
what was expected, what was found, and the closest valid key for a misspelt one; pure."""

from __future__ import annotations

import difflib
import types
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from digest.config.models import Settings
from digest.errors import ConfigError
from digest.sources.registry import SOURCE_TYPES, TYPES

_BY_TYPE = dict(zip(SOURCE_TYPES, TYPES, strict=True))

# pydantic's message for each error type, said the way a config file would say it
_EXPECTED = {
    "tuple_type": 'expected a list like ["a", "b"]',
    "list_type": 'expected a list like ["a", "b"]',
    "string_type": 'expected text in quotes like "value"',
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "model_type": "expected a table",
    "dict_type": "expected a table",
    "model_attributes_type": "expected a table",
    "date_type": "expected a date like 2025-09-16",
    "time_type": 'expected a time like "07:30"',
}
_BOUNDS = {
    "greater_than_equal": ("ge", "at least"),
    "greater_than": ("gt", "more than"),
    "less_than_equal": ("le", "at most"),
    "less_than": ("lt", "less than"),
}


def key_path(loc: tuple[int | str, ...]) -> str:
    """'subscribers[0].email' from pydantic's location tuple (union tags left out)."""
    out = ""
    for i, part in enumerate(loc):
        if i >= 2 and loc[i - 2] == "sources" and part in SOURCE_TYPES:
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(("function-", "tagged-union")):
            continue
        else:
            out += f".{part}" if out else part
    return out


def _unwrap(annotation: Any) -> Any:
    """The model class inside Annotated[...], X | None, tuple[X, ...]."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            rest = [a for a in get_args(annotation) if a is not type(None)]
            if len(rest) != 1:
                return annotation
            annotation = rest[0]
        elif origin is tuple:
            annotation = get_args(annotation)[0]
        else:
            return annotation


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The config section (model class) that the location `loc` points into."""
    current: Any = Settings
    for part in loc:
        if isinstance(part, int):
            continue
        if part in _BY_TYPE and not (isinstance(current, type) and issubclass(current, BaseModel)):
            current = _BY_TYPE[part]
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = _unwrap(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _found(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def suggestion(loc: tuple[int | str, ...]) -> str:
    """ "; did you mean 'keywords'?" for a misspelt key, else ''."""
    model = _model_at(loc[:-1])
    if model is None or not isinstance(loc[-1], str):
        return ""
    close = difflib.get_close_matches(loc[-1], list(model.model_fields), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def describe(error: Any) -> tuple[str, str]:
    """(key path, what is wrong) for one pydantic error."""
    loc = tuple(error["loc"])
    key = key_path(loc)
    kind = error["type"]
    ctx = error.get("ctx") or {}
    msg = str(error["msg"]).removeprefix("Value error, ")
    if kind == "union_tag_invalid":
        return f"{key}.type", (
            f"expected one of {', '.join(SOURCE_TYPES)}, found {ctx.get('tag')!r}"
        )
    if kind == "extra_forbidden":
        return key, f"unknown key (found {_found(error['input'])}){suggestion(loc)}"
    if kind == "missing":
        return key, "required key is missing"
    if kind == "value_error":
        return key, msg
    if kind in _EXPECTED:
        what = _EXPECTED[kind]
    elif kind in _BOUNDS:
        name, words = _BOUNDS[kind]
        what = f"expected a number {words} {ctx.get(name)}"
    elif kind == "literal_error":
        what = f"expected one of {ctx.get('expected', '')}".replace(" or ", ", ")
    elif kind in ("too_short", "string_too_short"):
        least = ctx.get("min_length", 1)
        what = "must not be empty" if least == 1 else f"expected at least {least} items"
    elif kind in ("too_long", "string_too_long"):
        what = f"expected at most {ctx.get('max_length')} items"
    else:
        what = msg[0].lower() + msg[1:] if msg else kind
    return key, f"{what}, found {_found(error['input'])}"


def config_error(exc: ValidationError | list[Any], path: Path) -> ConfigError:
    """The ConfigError for a failed validation (or pydantic's error dicts from several): the
    first problem (unknown keys first, the most specific location of each), and how many more
    there are."""
    raw = exc.errors() if isinstance(exc, ValidationError) else exc
    locs = [tuple(e["loc"]) for e in raw]
    # A bad item also fails its container (pydantic reports both); keep the specific one.
    errors = [
        e
        for e, loc in zip(raw, locs, strict=True)
        if not any(other != loc and other[: len(loc)] == loc for other in locs)
    ] or raw
    errors.sort(key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    key, what = describe(first)
    if first["type"] == "value_error" and first["loc"] == () and ": " in what:
        message = f"{path}: {what}"  # a whole-file rule whose message names its own key
    else:
        message = f"{path}: {key}: {what}" if key else f"{path}: {what}"
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return ConfigError(message + more, path=str(path), key=key)
