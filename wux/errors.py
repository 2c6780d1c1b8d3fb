"""Errors written for the user (what went wrong, where, what to do) and the exit-code policy.

Exit codes, the same for every command:
  0  success
  1  a verdict failed: parity, validation, a latency budget nobody met
  2  bad input or environment: a missing or corrupt file, a bad option, a server that is down
  130 interrupted (Ctrl-C)
The CLI maps WuxError.exit_code and KeyboardInterrupt to these in one place (wux.cli.WuxGroup).

Standard library only: the Triton models wux generates import this file too.
"""

from __future__ import annotations

from pathlib import Path

EXIT_OK = 0
EXIT_VERDICT = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class WuxError(Exception):
    """Base of every error the CLI prints as one line; bad input or environment (exit 2)."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, path: Path | str | None = None):
        self.path = Path(path) if path is not None else None
        super().__init__(f"{path}: {message}" if path is not None else message)


class VerdictError(WuxError):
    """A check ran and the thing checked failed it (exit 1); `result` holds the numbers behind it."""

    exit_code = EXIT_VERDICT

    def __init__(self, message: str, result=None):
        self.result = result
        super().__init__(message)


class CheckpointError(WuxError):
    """A checkpoint file is missing, corrupt, unsafe or does not fit the model."""


class ConfigError(WuxError):
    """A model, contract or run configuration is invalid."""


class AudioError(WuxError):
    """An audio file cannot be read, is empty, non-finite or has the wrong format."""


class UnreadableAudio(AudioError):
    """Bytes that no audio reader recognises (not WAV, FLAC or another format libsndfile knows)."""


class DataError(WuxError):
    """A data set folder does not have the expected layout."""


class ModelError(WuxError):
    """A user model cannot be imported, built, or is not waveform in / waveform out."""


class ExportError(WuxError):
    """An exporter rejected the model (names the op and the format where it can)."""


class NotFaithful(ExportError):
    """An approximate artifact (INT8) that cannot be made close enough to the model: a verdict, exit 1."""

    exit_code = EXIT_VERDICT


class MissingDependency(WuxError):
    """An optional package or binary is needed for this step and is absent."""

    def __init__(self, name: str, extra: str | None = None, hint: str | None = None):
        how = hint or (f"pip install 'wux[{extra}]'" if extra else f"install {name}")
        super().__init__(f"{name} is required for this step but is not available ({how})")


def first_line(e: BaseException) -> str:
    """The first line of an exception's message (library errors can span many lines)."""
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def few(items: list[str], shown: int = 3) -> str:
    """The first `shown` items for a message, and how many more: "a, b, c (+4 more)"."""
    more = f" (+{len(items) - shown} more)" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more
