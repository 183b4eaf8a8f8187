"""Named errors. Each says what failed, where, and how to fix it; each maps to a documented exit code."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit status of the ``churnml`` command (documented in README)."""

    OK = 0
    FAILURE = 1  # unexpected error: a bug, please report it
    USAGE = 2  # bad command-line arguments
    CONFIG = 3  # configuration file missing or invalid
    INVALID_INPUT = 4  # a dataset cannot be read: missing table or column, unreadable file
    REJECTED_ROWS = 5  # --strict and some rows were rejected
    MODEL = 6  # model bundle missing, tampered with or incompatible with the data
    NOT_FOUND = 7  # a requested customer or file does not exist
    BUSY = 8  # another run is writing the same output right now
    CANNOT_WRITE = 9  # an output cannot be written: disk full, no permission, read-only file system
    DRIFT = 10  # score --fail-on-drift: the scores are written, but features, predictions or a feed drifted


class ChurnMLError(Exception):
    """Base class of the errors churnml raises on purpose."""

    exit_code: ExitCode = ExitCode.FAILURE


class ConfigError(ChurnMLError):
    """The configuration is missing, not YAML, or has unknown keys or wrong types."""

    exit_code = ExitCode.CONFIG


class InputError(ChurnMLError):
    """A dataset cannot be used at all: each problem names table, column and fix."""

    exit_code = ExitCode.INVALID_INPUT

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))

    def __reduce__(self):  # raised on a Dask worker, it crosses to the driver intact
        return (type(self), (self.problems,))


class RejectedRowsError(ChurnMLError):
    """Strict mode: some rows were rejected."""

    exit_code = ExitCode.REJECTED_ROWS


class ModelError(ChurnMLError):
    """A model bundle is missing, altered since it was written, or does not fit the data."""

    exit_code = ExitCode.MODEL


class NotFoundError(ChurnMLError):
    """A requested customer or file does not exist."""

    exit_code = ExitCode.NOT_FOUND


class BusyError(ChurnMLError):
    """Another run holds the lock of the output this run would write."""

    exit_code = ExitCode.BUSY


class CannotWriteError(ChurnMLError):
    """An output cannot be written: disk full, no permission, a read-only file system, a bad path."""

    exit_code = ExitCode.CANNOT_WRITE


class DriftError(ChurnMLError):
    """``score --fail-on-drift``: the run published its scores, but the population drifted from the model's
    training reference or a feed broke; a scheduler stops the CRM import on this status."""

    exit_code = ExitCode.DRIFT
