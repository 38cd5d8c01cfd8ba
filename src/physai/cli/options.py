"""CLI options generated from config dataclasses: one source of names, types, defaults and help text.

A config field is documented by the string literal right below it (the project's style). `field_docs`
reads those with `ast`; `config_options` turns chosen fields into typer options (`--field-name`, the
field's type and default, its docstring as the help) and hands the values the user typed to the command
as one dict, so that the command builds the config from them and nothing is restated.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import textwrap
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import typer

_UNSET: Any = None


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """{field name: docstring} of a dataclass and its bases (a subclass's text wins)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            src = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        body = ast.parse(src).body[0]
        if not isinstance(body, ast.ClassDef):
            continue
        stmts = body.body
        for node, nxt in zip(stmts, stmts[1:], strict=False):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                    and isinstance(nxt.value.value, str)):
                docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def _cli_type(hint: Any) -> Any:
    """A field annotation as typer takes it (`X | None` -> Optional[X])."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return typing.Optional[args[0]]  # noqa: UP045  (typer reads typing.Optional)
    return hint


def config_options(
    cls: type,
    fields: Sequence[str],
    *,
    dest: str,
    flags: Mapping[str, str] | None = None,
    minimum: Mapping[str, float] | None = None,
    defaults: Mapping[str, Any] | None = None,
    unset: bool = False,
    extra_help: Mapping[str, str] | None = None,
    shown: Mapping[str, str] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: the command also takes `fields` of dataclass `cls` as options.

    `dest`: the command's keyword argument that receives {field: value}. `flags`: other flag names
    than `--field-name`. `minimum`: lower bounds checked by the parser. `defaults`: CLI defaults for
    fields the dataclass leaves required. `unset`: options default to None and only the fields the
    user gave reach `dest` (the caller layers them over a preset); the help still names the
    dataclass default (or `shown[field]`). `extra_help`: text appended to a field's help.
    """
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    by_name = {f.name: f for f in dataclasses.fields(cls)}
    flags, minimum, defaults, extra_help = flags or {}, minimum or {}, defaults or {}, extra_help or {}
    shown = shown or {}

    def deco(func: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(func)
        params = [p for p in sig.parameters.values() if p.name != dest]
        generated: list[inspect.Parameter] = []
        for name in fields:
            f = by_name[name]
            if name in defaults:
                default = defaults[name]
            elif f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                raise TypeError(f"{cls.__name__}.{name} has no default; give one in `defaults`")
            hint = _cli_type(hints[name])
            is_bool = hint is bool
            help_ = docs.get(name, "") + (f" {extra_help[name]}" if name in extra_help else "")
            kw: dict[str, Any] = {"help": help_}
            if name in minimum:
                kw["min"] = minimum[name]
            if unset:
                kw["show_default"] = shown.get(name, str(default))
                if typing.get_origin(hint) is not typing.Union:
                    hint = typing.Optional[hint]  # noqa: UP045
            flag = flags.get(name, "--" + name.replace("_", "-"))
            decls = [flag] if not is_bool else [f"{flag}/--no-{flag[2:]}"]
            opt = typer.Option(_UNSET if unset else default, *decls, **kw)
            generated.append(inspect.Parameter(f"_cfg_{name}", inspect.Parameter.KEYWORD_ONLY,
                                               default=opt, annotation=hint))

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            values = {n: kwargs.pop(f"_cfg_{n}") for n in fields if f"_cfg_{n}" in kwargs}
            if unset:
                values = {k: v for k, v in values.items() if v is not None}
            kwargs[dest] = values
            return func(*args, **kwargs)

        kinds = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params]
        wrapper.__signature__ = sig.replace(parameters=[*kinds, *generated])  # type: ignore[attr-defined]
        ann = {k: v for k, v in getattr(func, "__annotations__", {}).items() if k != dest}
        ann.update({p.name: p.annotation for p in generated})
        wrapper.__annotations__ = ann
        return wrapper

    return deco
