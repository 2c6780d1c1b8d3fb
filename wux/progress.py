"""Progress of long work on stderr: a bar (rich) on a terminal, plain lines elsewhere (a log, a pipe, --json).

stdout carries a command's result; stderr says how far it has got. A run of minutes written to a log is
never silent: off a terminal it says a line at most every LINE_INTERVAL_S seconds ($WUX_PROGRESS_SECONDS), and
once more at the end if it said anything before (a short run stays quiet).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal, Union

LINE_INTERVAL_S = 30.0  # seconds between two progress lines off a terminal, by default
INTERVAL_ENV = "WUX_PROGRESS_SECONDS"  # another interval (a CI log may want 10 s; the tests want none)

# True: a bar on a terminal, else lines; "lines": lines only; False: nothing (a library call that wants quiet)
ShowProgress = Union[bool, Literal["lines"]]


def progress_mode(as_json: bool) -> ShowProgress:
    """How a command shows progress: with --json as lines on stderr (stdout is the record), else a bar. Checks
    $WUX_PROGRESS_SECONDS now, so that a bad value is refused before any work."""
    line_interval_s()
    return "lines" if as_json else True


def line_interval_s() -> float:
    """Seconds between two progress lines: $WUX_PROGRESS_SECONDS, else LINE_INTERVAL_S."""
    text = os.environ.get(INTERVAL_ENV, "").strip()
    if not text:
        return LINE_INTERVAL_S
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        from wux.errors import ConfigError

        raise ConfigError(f"{INTERVAL_ENV}={text!r}: give the seconds between progress lines, a number >= 0")
    return seconds


def say_on_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def clock_text(seconds: float) -> str:
    """62.4 -> '1 min 02 s'; 3725 -> '1 h 02 min'."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@dataclass
class ProgressLines:
    """Plain progress lines for a log: at most one every `interval_s` seconds, and a last one at the end."""

    description: str
    total: int | None
    interval_s: float = field(default_factory=line_interval_s)
    clock: Callable[[], float] = time.monotonic
    say: Callable[[str], None] = say_on_stderr
    done: int = field(default=0, init=False)
    lines: int = field(default=0, init=False)
    done_when_said: int = field(default=0, init=False)  # the count its last line said

    def __post_init__(self) -> None:
        self.started = self.last = self.clock()
        self.lock = threading.Lock()  # work done in threads (data synth speaks four utterances at once)

    def advance(self, n: int = 1, total: int | None = None, **fields) -> None:
        with self.lock:
            self.done += n
            self.total = total or self.total
            now = self.clock()
            if now - self.last >= self.interval_s:
                self.last = now
                self.say_line(self.line(now - self.started, fields))

    def finish(self) -> None:
        """The last line, if the run said any before it (a run shorter than the interval stays quiet) and has
        done more since."""
        if self.lines and self.done != self.done_when_said:
            self.say_line(f"{self.description}: {self.count()} in {clock_text(self.clock() - self.started)}")

    def line(self, elapsed_s: float, fields: dict) -> str:
        text = f"{self.description}: {self.count()}, {clock_text(elapsed_s)}"
        if self.total and 0 < self.done < self.total:
            left_s = elapsed_s * (self.total - self.done) / self.done
            text += f", about {clock_text(left_s)} left"
        return text + "".join(f", {k} {v}" for k, v in fields.items())

    def count(self) -> str:
        if not self.total:
            return f"{self.done} done"
        return f"{self.done}/{self.total} ({100 * self.done // self.total} %)"

    def say_line(self, text: str) -> None:
        self.lines += 1
        self.done_when_said = self.done
        self.say(text)


def say_nothing(n: int = 1, total: int | None = None, **fields) -> None:
    pass


def stderr_is_terminal() -> bool:
    """A person watching: stderr a terminal itself (FORCE_COLOR, which CI sets to colour its logs, does not make a
    log a terminal)."""
    return sys.stderr.isatty()


@contextmanager
def progress_bar(description: str, total: int | None, show: ShowProgress = True, lines: bool = True):
    """Yield `advance(n=1, total=None, **fields)`: a bar on a terminal (show True), else plain lines (`lines`), or
    nothing. `total` tells the size of the work once known; `fields` are shown beside the count.

    lines=False for work that says its own lines off a terminal (training's epochs).
    """
    if show is True and stderr_is_terminal():
        with rich_bar(description, total) as advance:
            yield advance
        return
    if show is False or not lines:
        yield say_nothing
        return
    plain = ProgressLines(description, total)
    yield plain.advance
    plain.finish()


@contextmanager
def rich_bar(description: str, total: int | None):
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}")]
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(description, total=total, info="")

        def advance(n: int = 1, total: int | None = None, **fields) -> None:
            info = " ".join(f"{k}={v}" for k, v in fields.items())
            bar.update(task, advance=n, info=info, **({"total": total} if total else {}))

        yield advance
