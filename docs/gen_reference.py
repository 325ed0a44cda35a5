"""Generate the reference parts of the docs from the code, for the cog blocks in docs/*.md:
the configuration reference from the pydantic models (digest.config.models.Settings and the
source types in digest.sources.registry), the CLI reference from the click commands
(digest.cli.cli) and the library API from digest.app.__all__.

Regenerate after changing a config key, a command or digest.app:

    python docs/gen_reference.py            # rewrite the generated blocks in place
    python docs/gen_reference.py --check    # exit 1 when a block is out of date (the test)

The words of a config key come from docs/config_notes.toml when it has them, else from the
comment beside the field in the code; a note for a key the models no longer have is an error,
so the notes cannot outlive their keys.
"""

from __future__ import annotations

import ast
import datetime as dt
import inspect
import io
import sys
import textwrap
import tokenize
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

import annotated_types
import click
from pydantic import BaseModel
from pydantic.fields import FieldInfo

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# the pages holding cog blocks; cog leaves every other page alone
PAGES = ("configuration.md", "cli.md", "library.md")

# what a validated string is, by the validator that checks it (digest/config/fields.py)
VALIDATED = {
    "no_control": "string",
    "validate_email": "email address",
    "sender": '`"Name <address>"`',
    "unsubscribe_url": "mailto: or https: URL",
    "listen_address": '`"host:port"`',
    "base_url": "https URL",
    "category": "arXiv category",
    "clock": '`"HH:MM"`',
    "zone": "IANA time zone",
}
BOUNDS = (
    (annotated_types.Gt, "gt", "> {}"),
    (annotated_types.Ge, "ge", "≥ {}"),
    (annotated_types.Lt, "lt", "< {}"),
    (annotated_types.Le, "le", "≤ {}"),
)


def _notes() -> dict[str, Any]:
    with (DOCS / "config_notes.toml").open("rb") as f:
        return tomllib.load(f)


def _cell(text: str) -> str:
    """Text fit for one markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _type(annotation: Any) -> str:
    """A TOML reader's name for an annotation: string, integer, list of ..., "a" or "b"."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        for meta in annotation.__metadata__:
            name = getattr(getattr(meta, "func", None), "__name__", "")
            if name in VALIDATED:
                return VALIDATED[name]
        return _type(args[0])
    if origin is typing.Literal:
        names = [f'`"{a}"`' if isinstance(a, str) else f"`{a}`".lower() for a in args]
        return " or ".join(names) if len(names) <= 3 else "one of " + ", ".join(names)
    if origin in (typing.Union, types.UnionType):
        kept = [a for a in args if a is not type(None)]
        return " or ".join(_type(a) for a in kept)
    if origin is tuple:
        return f"list of {_type(args[0])}"
    simple = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if annotation in simple:
        return simple[annotation]
    if annotation is dt.date:
        return "date"
    if annotation is dt.time:
        return '`"HH:MM"`'
    raise TypeError(f"gen_reference: no TOML name for {annotation!r}; add one to _type")


def _field_type(field: FieldInfo) -> str:
    """The field's type with its own validator and bounds (kept by pydantic in `metadata`)."""
    name = _type(
        typing.Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation
    )
    bounds = [
        form.format(_number(getattr(meta, attr)))
        for meta in field.metadata
        for kind, attr, form in BOUNDS
        if isinstance(meta, kind)
    ]
    return ", ".join([name, *bounds])


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dt.time):
        return f'"{value:%H:%M}"'
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, int) and value >= 1 << 20 and value % (1 << 20) == 0:
        return f"{value} ({value >> 20} MiB)"
    if isinstance(value, float):
        return _number(value)
    return str(value)


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    if field.default is None:
        return "none"
    return f"`{_toml(field.default)}`"


def _comments(model: type[BaseModel]) -> dict[str, str]:
    """Each field's comment in the class body: the comment lines just above it and the one at
    the end of its line, as the code's authors wrote them."""
    source = textwrap.dedent(inspect.getsource(model))
    lines = source.splitlines()
    trailing: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT and lines[tok.start[0] - 1].lstrip() != tok.string:
            trailing[tok.start[0]] = tok.string.lstrip("# ")
    found: dict[str, str] = {}
    (cls,) = ast.parse(source).body
    assert isinstance(cls, ast.ClassDef)
    for node in cls.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        above: list[str] = []
        row = node.lineno - 1
        while row >= 1 and lines[row - 1].lstrip().startswith("#"):
            above.insert(0, lines[row - 1].strip().lstrip("# "))
            row -= 1
        parts = [*above, trailing.get(node.end_lineno or node.lineno, "")]
        text = " ".join(p for p in parts if p)
        if text:
            found[node.target.id] = text
    return found


def _own_comments(model: type[BaseModel]) -> dict[str, str]:
    """Field comments of `model` and its bases, the model's own winning."""
    merged: dict[str, str] = {}
    for klass in reversed(model.__mro__):
        if isinstance(klass, type) and issubclass(klass, BaseModel) and klass is not BaseModel:
            try:
                merged.update(_comments(klass))
            except (OSError, TypeError, ValueError):  # a pydantic base without our source
                continue
    return merged


def _table(
    model: type[BaseModel], notes: dict[str, Any], where: str, skip: frozenset[str] = frozenset()
) -> str:
    comments = _own_comments(model)
    written = {k for k, v in notes.items() if not isinstance(v, dict) and not k.startswith("_")}
    unknown = written - set(model.model_fields)
    if unknown:
        raise KeyError(f"docs/config_notes.toml [{where}] has notes for unknown keys: {unknown}")
    rows = []
    for name, field in model.model_fields.items():
        if name in skip:
            continue
        meaning = notes.get(name) or field.description or comments.get(name, "")
        rows.append(
            f"| `{name}` | {_cell(_field_type(field))} | {_cell(_default(field))} "
            f"| {_cell(meaning)} |"
        )
    if not rows:
        return "No keys of its own.\n"
    head = ["| key | type | default | meaning |", "|---|---|---|---|"]
    return "\n".join([*head, *rows]) + "\n"


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The config models an annotation holds (itself, inside Optional, a tuple or a union)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def config_reference() -> str:
    """Every table of the config file, in the order of digest.config.models.Settings."""
    from digest.config.models import Settings
    from digest.sources.base import SourceSettings
    from digest.sources.registry import TYPES

    notes = _notes()
    out: list[str] = []
    for name, field in Settings.model_fields.items():
        many = typing.get_origin(field.annotation) is tuple
        heading = f"[[{name}]]" if many else f"[{name}]"
        presence = "required" if field.is_required() else "optional"
        if many and not field.is_required():
            presence = "any number"
        elif many:
            presence = "at least one"
        table_notes = notes.get(name, {})
        models = _models(field.annotation)
        if name == "sources":
            out.append(f"### `{heading}` ({presence})\n\n")
            out.append(_cell(table_notes.get("_about", "")) + "\n\n")
            out.append(_table(SourceSettings, table_notes, name, skip=frozenset({"type"})))
            for kind in TYPES:
                type_name = typing.get_args(kind.model_fields["type"].annotation)[0]
                kind_notes = table_notes.get(type_name, {})
                doc = inspect.getdoc(kind) or ""
                out.append(f'\n#### `type = "{type_name}"`\n\n{_cell(doc)}\n\n')
                # the heading names the type; a shared key is listed again only where this
                # type changes it (feed's url is required) or says more about it
                shared = frozenset(
                    n
                    for n, f in kind.model_fields.items()
                    if n == "type"
                    or (
                        n in SourceSettings.model_fields
                        and f.default == SourceSettings.model_fields[n].default
                        and n not in kind_notes
                    )
                )
                out.append(_table(kind, kind_notes, f"{name}.{type_name}", skip=shared))
            out.append("\n")
            continue
        (model,) = models
        about = table_notes.get("_about") or (inspect.getdoc(model) or "")
        out.append(f"### `{heading}` ({presence})\n\n{_cell(about)}\n\n")
        out.append(_table(model, table_notes, name))
        out.append("\n")
    return "".join(out).rstrip() + "\n"


# -- the CLI ----------------------------------------------------------------------------------


def _option_default(param: click.Parameter) -> str:
    if isinstance(param, click.Option) and param.is_flag:
        return ""
    if param.required:
        return "required"
    # click keeps an UNSET sentinel for "no default"; only plain values are worth showing
    if isinstance(param.default, bool) or not isinstance(param.default, str | int | float):
        return ""
    return f"`{param.default}`"


def _option_type(param: click.Parameter) -> str:
    if isinstance(param, click.Option) and param.is_flag:
        return "flag"
    if isinstance(param.type, click.Choice):
        return " \\| ".join(f"`{c}`" for c in param.type.choices)
    return param.type.name.lower()


def _command(command: click.Command, path: list[str], level: int) -> list[str]:
    ctx = click.Context(command, info_name=" ".join(path))
    usage = " ".join([*path, *command.collect_usage_pieces(ctx)])
    help_text = inspect.cleandoc(command.help or "").replace("\b\n", "")
    out = [f"{'#' * level} `{' '.join(path)}`\n\n", f"```\n{usage}\n```\n\n", f"{help_text}\n"]
    rows = []
    for param in command.get_params(ctx):
        if getattr(param, "hidden", False) or param is command.get_help_option(ctx):
            continue
        names = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
        help_ = getattr(param, "help", None) or ""
        if isinstance(param, click.Argument):
            names, help_ = f"`{param.human_readable_name}`", help_ or "argument"
        rows.append(
            f"| {names} | {_option_type(param)} | {_cell(_option_default(param))} "
            f"| {_cell(help_)} |"
        )
    if rows:
        out.append("\n| option | value | default | what it does |\n|---|---|---|---|\n")
        out.append("\n".join(rows) + "\n")
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                out.append("\n")
                out.extend(_command(sub, [*path, name], level + 1))
    return out


def cli_reference() -> str:
    """`digest` and each of its commands: usage, help text and options, from the click tree."""
    from digest.cli import cli

    return "".join(_command(cli, ["digest"], 2))


# -- the library ------------------------------------------------------------------------------


def _signature(obj: Any, *, returns: bool) -> str:
    """`(a: int, *, b: str = 'x') -> T` with the annotations as written in the source (they
    are strings under `from __future__ import annotations`, which str(signature) quotes)."""
    sig = inspect.signature(obj)
    parts: list[str] = []
    star = False
    for p in sig.parameters.values():
        if p.kind is p.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        text = p.name
        if p.annotation is not p.empty:
            text += f": {p.annotation}"
        if p.default is not p.empty:
            text += f" = {p.default!r}"
        parts.append(text)
    tail = ""
    if returns and sig.return_annotation is not sig.empty:
        tail = f" -> {sig.return_annotation}"
    return f"({', '.join(parts)}){tail}"


def library_reference() -> str:
    """Each name digest.app exports, with its signature and its docstring."""
    from digest import app

    out: list[str] = []
    for name in app.__all__:
        obj = getattr(app, name)
        doc = inspect.getdoc(obj) or ""
        if inspect.isclass(obj):
            kind, signature = "class", _signature(obj, returns=False)
        else:
            kind = "async def" if inspect.iscoroutinefunction(obj) else "def"
            signature = _signature(obj, returns=True)
        out.append(f"### `{name}`\n\n```python\n{kind} {name}{signature}\n```\n\n{doc}\n\n")
    return "".join(out).rstrip() + "\n"


def main(argv: list[str]) -> int:
    """Run cog over the pages with generated blocks: rewrite them, or with --check only say
    whether they are current (exit 1 when not)."""
    from cogapp import Cog

    check = "--check" in argv
    args = ["cog", "--check" if check else "-r", "-I", str(DOCS)]
    return Cog().main([*args, *(str(DOCS / page) for page in PAGES)])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
