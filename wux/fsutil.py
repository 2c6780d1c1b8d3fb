"""Write files and folders so that a failed run never leaves a half-written artifact."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
import secrets
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from wux.errors import WuxError


@contextmanager
def atomic_file(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it into place only if the block succeeds."""
    path = Path(path)
    make_parent(path)
    with scratch_beside(path, ".partial", make_file) as tmp:
        yield tmp
        os.replace(tmp, path)


def make_file(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # 0666 less the umask


@contextmanager
def scratch_beside(path: Path, suffix: str = "", make: Callable[[Path], None] = os.mkdir) -> Iterator[Path]:
    """A new, empty file or folder (`make`: os.mkdir, 0777 less the umask, or make_file) named .NAME.RANDOM+suffix
    beside `path`, removed when the block ends however it ends. Its name is chosen before it is made and the
    making is inside the block, so Ctrl-C or SIGTERM landing the instant after it exists still removes it."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{suffix}")
    ours = True
    try:
        try:
            make(tmp)
        except FileExistsError:  # another's (32 random bits: hardly ever): not ours to remove
            ours = False
            raise
        yield tmp
    finally:
        if ours:
            remove_path(tmp)


def remove_path(path: Path) -> None:
    if not os.path.lexists(path):  # never made (the making failed): nothing to remove, no second error
        return
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


PARTIAL = re.compile(r"^\.(?P<name>.+)\.[^.]+\.partial$")  # what atomic_file and atomic_dir name their work


def shown_path(filename: str) -> str:
    """The path a user asked for, where a system error names the temporary file or folder standing in for it."""
    path = Path(filename)
    for i, part in enumerate(path.parts):
        m = PARTIAL.match(part)
        if m:
            return str(Path(*path.parts[:i], m["name"], *path.parts[i + 1:]))
    return str(filename)


def make_parent(path: Path) -> None:
    """Create the folder `path` goes in, or say in one line why it cannot be written there."""
    make_folder(path.parent, writable=True, shown=path)


def make_folder(path: Path, writable: bool = False, shown: Path | None = None) -> None:
    """Create the folder `path` (an existing one is fine; with `writable`, one this user may write in), or say in
    one line, naming `shown` (default: the folder), why it cannot be."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        if writable and not os.access(path, os.W_OK):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
    except OSError as e:
        raise WuxError(f"cannot write here ({folder_problem(e)})", shown or path) from None


def folder_problem(e: OSError, where: Path | None = None) -> str:
    """'WHERE: why' for an error making folders or files in them (WHERE: `where`, else the error's file); a file
    standing where a folder must be is named as such (the system says 'File exists' or 'Not a directory')."""
    if e.errno in (errno.EEXIST, errno.ENOTDIR) and e.filename:
        blocker = next((p for p in (*reversed(Path(e.filename).parents), Path(e.filename))
                        if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            return f"{blocker}: is a file, not a folder"
    return f"{where or e.filename}: {e.strerror}"


def is_or_holds(folder: Path | str, path: Path | str) -> bool:
    """Whether `folder` is `path` or one of the folders it lies in (both resolved)."""
    folder, path = Path(folder).resolve(), Path(path).resolve()
    return folder == path or folder in path.parents


def refuse_replacing_inputs(output: Path, inputs: Iterable[Path | str | None]) -> None:
    """An output that is one of the run's inputs, or a folder holding one (replacing it would delete it)."""
    for given in inputs:
        if given is not None and is_or_holds(output, given):
            raise WuxError(f"writing here would replace the input {given}; choose another output", output)


def check_new_file(path: Path, force: bool, inputs: Iterable[Path | str | None] = ()) -> None:
    """A file about to be written (a checkpoint): refused when it is one of `inputs`, is a folder, exists (unless
    `force`) or cannot be written where it goes."""
    refuse_replacing_inputs(path, inputs)
    if path.is_dir():
        raise WuxError("is a folder; give a file name", path)
    if path.exists() and not force:
        raise WuxError("already exists; use --force to replace it", path)
    check_writable(path)


def check_new_output(path: Path, force: bool, probe: bool = True, inputs: Iterable[Path | str | None] = ()) -> None:
    """A folder about to be written: refused when it is or holds one of `inputs`, is a file, exists (unless
    `force`) or, with `probe`, when nothing can be written where it goes."""
    refuse_replacing_inputs(path, inputs)
    if is_or_holds(path, Path.cwd()):
        raise WuxError("is the current folder or holds it; replacing it would delete the folder this runs in; "
                       "choose another output", path)
    if path.exists() and not path.is_dir():
        raise WuxError("is a file, not a folder; choose another output", path)
    if path.exists() and not force:
        raise WuxError("already exists; use --force to replace it", path)
    if probe:
        check_writable(path)
    else:
        make_parent(path)


def nearest_existing_folder(path: Path) -> Path:
    """The folder `path` goes in, or, where that is still to be made, the nearest one above it that exists."""
    folder = path.absolute().parent
    while not os.path.lexists(folder) and folder != folder.parent:  # lexists: False, not EACCES, where unsearchable
        folder = folder.parent
    return folder


def check_writable(path: Path) -> None:
    """Write (and remove) a file where `path` will be made, now, so an output that cannot be written fails before
    the work; folders still to be made are made by the writing, not here (a failed run leaves none behind)."""
    folder = nearest_existing_folder(path)
    try:
        if not folder.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "Not a directory", str(folder))
        with scratch_beside(folder / path.name, ".probe", make_file):
            pass
    except OSError as e:
        raise WuxError(f"cannot write here ({folder_problem(e, folder)})", path) from None


@contextmanager
def atomic_dir(path: Path | str, force: bool = False, inputs: Iterable[Path | str | None] = ()) -> Iterator[Path]:
    """Yield an empty temporary folder beside `path`; it replaces `path` only on success.

    An existing `path` is refused unless `force`, and then removed only after the new
    folder is complete; a `path` that is or holds one of the run's `inputs` is refused always.
    """
    path = Path(path)
    check_new_output(path, force, probe=False, inputs=inputs)
    with scratch_beside(path, ".partial") as tmp:  # a normal folder's permissions: a server running as another
        yield tmp                                 # user (Triton in a container) reads the export
        if path.exists():
            replace_folder(path, tmp)
        else:
            os.replace(tmp, path)


def replace_folder(path: Path, new: Path) -> None:
    """Put the folder `new` where the folder `path` is, the old one set aside first and removed last; if the swap
    is interrupted between its two moves, the old one goes back (never neither)."""
    old = path.with_name(f".{path.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    try:
        os.replace(path, old)
        os.replace(new, path)
    finally:
        if not os.path.lexists(path) and os.path.lexists(old):
            os.replace(old, path)
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def folder_lock(folder: Path | str, waiting: str) -> Iterator[None]:
    """Hold an exclusive advisory lock (flock) on `folder` itself for the block, so that writers taking it run one
    at a time; no lock file is left. `waiting` goes to stderr when another process holds it, then this one waits."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(waiting, file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def torch_file_kind(path: Path | str) -> str | None:
    """How torch.save stored a file, by its first bytes: "zip" (its format since PyTorch 1.6, a zip archive),
    "pickle" (the legacy one), None (neither)."""
    with open(path, "rb") as f:
        return torch_bytes_kind(f.read(2))


def torch_bytes_kind(head: bytes) -> str | None:
    """torch_file_kind of a file's first bytes."""
    return "zip" if head[:2] == b"PK" else "pickle" if head[:1] == b"\x80" else None


def sha256_file(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
