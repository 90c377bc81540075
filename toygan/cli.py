"""What every command line of toygan shares: bad input answered with one line on stderr
and exit 2 (argparse's own error output is a usage block and SystemExit), argument types
with ranges, and OSError messages that name the path."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

EXIT_BAD_INPUT, EXIT_INTERRUPTED = 2, 130


class UsageError(Exception):
    """Bad command-line input: reported as one line, exit 2."""


class CommandParser(argparse.ArgumentParser):
    """argparse with errors raised as UsageError (one line) instead of a usage block and
    SystemExit; "-1e3" reads as a (bad) number, not as an unknown option."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")

    def error(self, message: str):
        raise UsageError(message)


def options_markdown(parser: argparse.ArgumentParser) -> str:
    """The parser's options as a Markdown table (option, default, meaning), in the order
    declared: the README's option table is this text (a test holds it so). An action's
    `shown_default` attribute, where set, is its default column (options whose argparse
    default is None, so that "not given" can be told from the default)."""
    rows = ["| option | default | meaning |", "|---|---|---|"]
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        if isinstance(action, argparse._HelpAction):
            continue
        name = ", ".join(action.option_strings)
        if action.nargs != 0:
            name += f" {action.metavar or action.dest.upper()}"
        default = getattr(action, "shown_default", None)
        meaning = getattr(action, "plain_help", action.help) or ""
        if action.choices:
            meaning += "; one of " + ", ".join(f"`{c}`" for c in action.choices)
        shown = "" if default is None else f"`{default}`"
        rows.append(f"| `{name}` | {shown} | {meaning.replace('|', '&#124;')} |")
    return "\n".join(rows) + "\n"


def int_in(lo: int, hi: int):
    """An argparse type: an integer from lo to hi, else a message saying so."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be an integer from {lo} to {hi}, got {text[:40]!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(
                f"must be an integer from {lo} to {hi}, got {text[:40]}")
        return value

    return parse


def int_list(lo: int, hi: int, most: int, example: str):
    """An argparse type: comma-separated distinct integers from lo to hi, at most `most`."""

    def parse(text: str) -> list[int]:
        items = [t.strip() for t in text.split(",")]
        if not text.strip() or any(not t for t in items):
            raise argparse.ArgumentTypeError(
                f"must be integers separated by commas, like {example}, got {text[:40]!r}")
        try:
            values = [int(t) for t in items]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be integers like {example}, got {text[:40]!r}") from None
        bad = [v for v in values if not lo <= v <= hi]
        if bad:
            raise argparse.ArgumentTypeError(f"each must be from {lo} to {hi}, got {bad[0]}")
        if len(values) > most:
            raise argparse.ArgumentTypeError(f"at most {most} values, got {len(values)}")
        twice = [v for i, v in enumerate(values) if v in values[:i]]
        if twice:
            raise argparse.ArgumentTypeError(f"lists {twice[0]} twice")
        return values

    return parse


def one_line(text: str) -> str:
    return re.sub(r"\s*\n\s*", " ", str(text)).strip()


def fail(command: str, message: str, code: int = EXIT_BAD_INPUT) -> int:
    """Print `toygan.COMMAND: error: MESSAGE` as one line on stderr; return `code`."""
    print(f"toygan.{command}: error: {one_line(message)}", file=sys.stderr)
    return code


def os_error_text(err: OSError) -> str:
    """An OSError as 'PATH: reason' (the file it concerns, when known)."""
    where = f"{err.filename}: " if err.filename else ""
    if err.filename2:
        where = f"{err.filename} -> {err.filename2}: "
    return f"{where}{err.strerror or type(err).__name__}" if err.strerror else f"{where}{err}"


def output_dir_problem(path: Path, flag: str = "--out") -> str | None:
    """Why `path` cannot be (or become) an output directory, without touching the disk:
    it is a file, or it lies under one. None when it can."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        return f"{flag} {path} is a file, not a directory"
    for parent in path.absolute().parents:
        if parent.exists() and not parent.is_dir():
            return f"{flag} {path}: {parent} is a file, not a directory"
        if parent.exists():
            break
    return None
