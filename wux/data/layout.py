"""The VoiceBank+DEMAND folder layout, shared by the synthesiser and the data set."""

from __future__ import annotations

from pathlib import Path

SPLITS = ("train", "test")


def split_dirs(root: Path, split: str) -> tuple[Path, Path]:
    """(clean folder, noisy folder) of one split."""
    return Path(root) / f"clean_{split}set_wav", Path(root) / f"noisy_{split}set_wav"
