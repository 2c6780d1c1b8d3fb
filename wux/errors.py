"""Errors written for the user: what went wrong, where, and what to do."""

from __future__ import annotations

from pathlib import Path


class WuxError(Exception):
    """Base of every error the CLI prints as one line and exits 2 on."""

    def __init__(self, message: str, path: Path | str | None = None):
        self.path = Path(path) if path is not None else None
        super().__init__(f"{path}: {message}" if path is not None else message)


class CheckpointError(WuxError):
    """A checkpoint file is missing, corrupt, unsafe or does not fit the model."""


class ConfigError(WuxError):
    """A model or run configuration is invalid."""


class AudioError(WuxError):
    """An audio file cannot be read, is empty, non-finite or has the wrong format."""


class DataError(WuxError):
    """A data set folder does not have the expected layout."""


class MissingDependency(WuxError):
    """An optional package or binary is needed for this step and is absent."""

    def __init__(self, name: str, extra: str | None = None, hint: str | None = None):
        how = hint or (f"pip install 'wux[{extra}]'" if extra else f"install {name}")
        super().__init__(f"{name} is required for this step but is not available ({how})")


def first_line(e: BaseException) -> str:
    """The first line of an exception's message (library errors can span many lines)."""
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
