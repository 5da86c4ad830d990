"""Errors the user can act on.

Every failure that a user can cause (bad data, a bad config, a bad checkpoint) raises a subclass of
:class:`InfoGANError` whose message names the problem and the fix. The CLI prints the message alone,
without a traceback, and exits with status 2.
"""

from __future__ import annotations


class InfoGANError(Exception):
    """Base class of every user-facing error of the package."""


class ConfigError(InfoGANError, ValueError):
    """A configuration, preset or latent-code specification is invalid."""


class DataError(InfoGANError):
    """A dataset is missing, corrupt, or does not match what the experiment needs."""


class CheckpointError(InfoGANError):
    """A snapshot or resume state is missing, corrupt, unsafe or incompatible."""


class TrainingError(InfoGANError):
    """Training cannot go on (a non-finite loss, an unwritable run folder, ...)."""


class UnsafeFileError(InfoGANError):
    """A path the project would read or write is not what it must be: a symbolic link, FIFO, device or folder
    where a regular file belongs, a link inside a run folder, or a file larger than any real one."""
