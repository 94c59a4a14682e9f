"""Commands and links in the README and docs/ are checked: every `ddse ...` command line shown in
a code block goes through the real parser (with --help appended, so an option that was renamed
or removed fails here, not in a reader's terminal), and every relative link resolves."""

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from ddse_np.cli import cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "benchmarks" / "README.md",
    ROOT / "data" / "README.md",
]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def code_lines(text: str):
    """The lines of indented (4 spaces) and fenced code blocks, continuation lines (`\\`) joined."""
    lines, fenced, pending = [], False, ""
    for line in text.splitlines():
        if line.strip().startswith("```"):
            fenced = not fenced
            continue
        if not (fenced or line.startswith("    ")):
            continue
        line = pending + line.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        lines.append(line)
    return lines


def ddse_commands():
    """(document, argument list after `ddse`) for each ddse command line shown in the docs."""
    found = []
    for path in DOCS:
        for line in code_lines(path.read_text()):
            for part in re.split(r"&&|;|\|", line):
                try:
                    words = shlex.split(part, comments=True)
                except ValueError:  # not shell (e.g. Python in a fenced block)
                    continue
                # VAR=value prefixes
                while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]):
                    words = words[1:]
                if words[:1] in (["nohup"], ["time"]):
                    words = words[1:]
                if words[:1] == ["ddse"] or words[:2] == ["python", "cli.py"]:
                    found.append((path.relative_to(ROOT), words[1 if words[0] == "ddse" else 2 :]))
    return found


COMMANDS = ddse_commands()


def test_the_docs_show_commands_to_check():
    assert len(COMMANDS) > 30
    assert any(args[:1] == ["sweep"] for _, args in COMMANDS) and any(
        args[:1] == ["train"] for _, args in COMMANDS
    )


@pytest.mark.parametrize(
    "where, args", COMMANDS, ids=[f"{w}:{' '.join(a)[:60]}" for w, a in COMMANDS]
)
def test_every_command_line_in_the_docs_parses(where, args):
    if not args or args[0] in ("--help", "-h", "--version", "-V"):
        return
    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output, (
        f"{where}: ddse {' '.join(args)}\n{result.output}"
    )


def test_the_check_catches_a_renamed_option():
    result = CliRunner().invoke(cli, ["train", "--no-such-option", "1", "--help"])
    assert result.exit_code != 0


@pytest.mark.parametrize("path", DOCS, ids=[str(p.relative_to(ROOT)) for p in DOCS])
def test_every_relative_link_resolves(path):
    broken = []
    for target in LINK.findall(path.read_text()):
        if re.match(r"[a-z]+:|#", target):  # a URL or an anchor in the same page
            continue
        if not (path.parent / target.split("#")[0]).exists():
            broken.append(target)
    assert not broken, f"{path.relative_to(ROOT)}: {broken}"
