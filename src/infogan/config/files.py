"""Configs as files and the rule that says when two configs describe the same run.

:func:`read_config` reads a ``config.json`` without ever blocking or running on: only a regular file of at
most ``MAX_CONFIG_BYTES``, refused in one line otherwise (a FIFO, /dev/zero, a folder, a binary file).
:func:`config_differences` is the one comparison of configs, used by ``infogan reproduce`` (is this folder
the planned run?) and by resume (is this state the run's own?).
"""

from __future__ import annotations

import os

from infogan.config.schema import MAX_CONFIG_BYTES, RunConfig
from infogan.errors import ConfigError, UnsafeFileError
from infogan.latent.syntax import format_latent
from infogan.storage import read_regular

# Execution choices that may change between sessions of one run without changing the experiment.
EXECUTION_FIELDS = frozenset({("data", "data_dir"), ("train", "device"), ("train", "compile"),
                              ("train", "compile_mode"), ("train", "precision"), ("train", "deterministic"),
                              ("train", "sync_batchnorm")})
# A resume may also extend the run (``--resume RUN --iterations N``), so its resume states hold a new total.
RESUME_FIELDS = EXECUTION_FIELDS | {("train", "iterations")}


def read_config(path: str | os.PathLike, *, follow: bool = True, what: str = "config") -> RunConfig:
    """The :class:`RunConfig` in a JSON file.

    Args:
        path: the file.
        follow: follow a symbolic link (a path the user gave); False for a run folder's own ``config.json``.
        what: how to name the file in messages (e.g. "--config").
    Raises:
        ConfigError: unreadable, not a regular file, too large, not UTF-8, or not a valid config.
    """
    try:
        data = read_regular(path, limit=MAX_CONFIG_BYTES, follow=follow, what="config file")
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except UnsafeFileError as exc:
        raise ConfigError(f"cannot read {what}: {exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path} is not a UTF-8 JSON file") from None
    return RunConfig.from_json(text)


def config_differences(stored: RunConfig, wanted: RunConfig, *, ignore=EXECUTION_FIELDS) -> list[str]:
    """Human-readable differences "section.field stored -> wanted", the fields in ``ignore`` left out
    (default: the execution-only fields)."""
    a, b = stored.to_dict(), wanted.to_dict()
    out = []
    for section in sorted(set(a) | set(b)):
        x, y = a.get(section), b.get(section)
        if isinstance(x, dict) and isinstance(y, dict):
            out += [f"{section}.{k} {_shown(stored, section, k, x.get(k))!r} -> {_shown(wanted, section, k, y.get(k))!r}"
                    for k in sorted(set(x) | set(y)) if x.get(k) != y.get(k) and (section, k) not in ignore]
        elif x != y:
            out.append(f"{section} {x!r} -> {y!r}")
    return out


def _shown(config: RunConfig, section: str, key: str, value):
    """A field's value as a difference shows it: the latent spec in its string syntax (compared as data)."""
    return format_latent(config.model.latent) if (section, key) == ("model", "latent") else value
