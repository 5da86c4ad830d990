"""The value checks the config classes share: each refuses a wrong JSON type or a value out of its range with
one :class:`~infogan.errors.ConfigError` naming the field, the accepted range and the value given."""

from __future__ import annotations

import math
from typing import Any

from infogan.errors import ConfigError


def positive(name: str, value: Any, *, integer: bool = False, top: int | None = None) -> None:
    """A positive number (an integer when ``integer``), at most ``top`` when given."""
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not value > 0 or (
            not integer and not math.isfinite(value)):
        raise ConfigError(f"{name} must be a {'positive integer' if integer else 'positive number'}, "
                          f"got {value!r}")
    if top is not None and value > top:
        raise ConfigError(f"{name} must be at most {top:,}, got {value!r}")


def integer_in(name: str, value: Any, low: int, high: int) -> None:
    """An integer in ``low..high`` (a bool is not an integer here)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name} must be an integer in {low}..{high:,}, got {value!r}")


def number_in(name: str, value: Any, low: float, high: float) -> None:
    """A number in ``[low, high]`` (NaN and bools are refused; ``high`` may be infinite)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError(f"{name} must be a number in [{low:g}, {high:g}], got {value!r}")


def choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    """One of ``choices``."""
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def typed(name: str, value: Any, kind: type, *, optional: bool = False) -> None:
    """Refuse a value of the wrong JSON type (else e.g. "no" would read as True)."""
    if optional and value is None:
        return
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ConfigError(f"{name} must be {'true or false' if kind is bool else 'a ' + kind.__name__}, "
                          f"got {value!r}")


def check_keys(where: str, data: dict, allowed: set[str]) -> None:
    """No key outside ``allowed`` (unknown keys are an error, never silently dropped)."""
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in {where}; allowed: {sorted(allowed)}")
