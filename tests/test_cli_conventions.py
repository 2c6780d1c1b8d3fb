"""Every command's --help: every option explained, every choice listed, no double negatives, one name
per meaning across commands."""

import re
import typing

import pytest
import typer
from typer.testing import CliRunner

from wux.cli import app


def commands():
    """(path, click command) for every leaf command of the app."""
    root = typer.main.get_command(app)
    out = []

    def walk(cmd, path):
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, path + [name])
        else:
            out.append((path, cmd))

    walk(root, [])
    return out


COMMANDS = commands()


def test_the_walk_finds_every_command():
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"export", "verify", "probe", "serve", "perf", "tune", "data synth", "denoise"} <= names


@pytest.mark.parametrize("path, command", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_help_explains_every_option_and_lists_every_choice(path, command):
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "300"})  # wide: nothing wrapped
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "--no-no-" not in text
    for param in command.params:
        if param.param_type_name != "option" or param.name == "help":
            continue
        assert (param.help or "").strip(), f"wux {' '.join(path)} {param.opts[0]} has no help text"
        for bracketed in re.findall(r"\\?\[[^\]]*\]", param.help):  # rich markup eats an unescaped [extra]
            assert bracketed.lstrip("\\") in text, f"{param.opts[0]}'s help loses {bracketed} when shown"
        annotation = param.type_descriptor.annotation
        choices = typing.get_args(annotation) if typing.get_origin(annotation) is typing.Literal else ()
        if choices:
            listed = "|".join(str(c) for c in choices)
            assert listed in text.replace(" ", ""), f"{param.opts[0]} does not list {listed}"


def test_one_name_one_meaning():
    """A flag names the same parameter wherever it appears, and where output goes is -o/--out everywhere."""
    seen: dict[str, tuple[str, str]] = {}
    clashes = []
    for path, command in COMMANDS:
        where = f"wux {' '.join(path)}"
        for param in command.params:
            if param.name in ("out", "output") and param.param_type_name == "option":
                assert param.opts == ["-o", "--out"], f"{where}: {param.opts}"
            for opt in param.opts:
                if opt in seen and seen[opt][0] != param.name:
                    clashes.append(f"{opt}: {seen[opt][0]} in {seen[opt][1]}, {param.name} in {where}")
                seen.setdefault(opt, (param.name, where))
    assert clashes == []
