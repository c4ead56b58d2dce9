"""CLI flags built from a budget dataclass's fields, so a command never hand-copies a budget's names or defaults.

`@budget_flags("skim", SKIM, "skim")` adds `--skim-fps`, `--skim-max-frames`, ... (one per FrameBudget field, each
defaulting to "unset") and hands the command `skim=`: the fields the user set, as a dict to lay over a base budget
(`FrameBudget.from_dict(skim, SKIM)`). A command may choose its base after parsing (`longvt ask`'s demo budget).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Optional

import typer

_TYPES = {"float": float, "int": int, "str": str}


def budget_flags(
    name: str, base: Any, what: str, *, prefix: str | None = None, exclude: tuple[str, ...] = ()
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a typer command that takes `name`: flags `--<prefix><field>` for every field of `type(base)`."""
    prefix = f"{name}_" if prefix is None else prefix
    cls = type(base)
    hints = {f.name: f.type for f in _fields(cls)}
    flags = {opt: field for opt, field in cls.option_names(prefix).items() if field not in exclude}

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(fn)
        params = [p for p in sig.parameters.values() if p.name != name]
        for opt, field in flags.items():
            kind = _TYPES[hints[field].split(" ")[0]]
            default = getattr(base, field)
            shown = "model's own" if default is None else default
            params.append(
                inspect.Parameter(
                    opt,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=typer.Option(None, help=f"{what}: {field} [{shown}]", show_default=False),
                    annotation=Optional[kind],  # noqa: UP045 - typer needs a runtime type
                )
            )

        @functools.wraps(fn)
        def command(*args: Any, **kwargs: Any) -> Any:
            given = {flags[k]: kwargs.pop(k) for k in list(kwargs) if k in flags}
            kwargs[name] = {field: value for field, value in given.items() if value is not None}
            return fn(*args, **kwargs)

        command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        command.__annotations__ = {k: v for k, v in fn.__annotations__.items() if k != name}
        return command

    return decorate


def _fields(cls: type) -> tuple[Any, ...]:
    import dataclasses

    return dataclasses.fields(cls)


def budget_or_exit(cls: type, given: dict[str, Any], base: Any) -> Any:
    """`cls.from_dict(given, base)`, validated; a bad value is a usage error naming the flag's field."""
    try:
        return cls.from_dict(given, base).validate()
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
