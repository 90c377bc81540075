"""The README's shape: a user's page of at most 250 lines, its Quick start (which CI runs),
the option table generated from the run parser, and no relative link in the README or
docs/ that points nowhere."""

from __future__ import annotations

import re
from pathlib import Path

from toygan.cli import options_markdown
from toygan.run import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"

MAX_LINES = 250
BEGIN = ("<!-- options:begin (generated from toygan.config and toygan.run's parser: "
         "python -m toygan.run --options-markdown) -->")
END = "<!-- options:end -->"
QUICK_START_COMMANDS = [
    "pip install . && python -m toygan.run mixture8",
    'pip install ".[test]" && python -m pytest',  # the one .ci/run runs
]

LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^```.*?^```[ \t]*$", re.M | re.S)


def section(text: str, heading: str) -> str:
    """The body of the `## heading` section of a Markdown text, up to the next `## `."""
    assert f"\n{heading}\n" in text, f"README has no '{heading}' section"
    return text.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]


def test_readme_is_at_most_250_lines():
    lines = len(README.read_text().splitlines())
    assert lines <= MAX_LINES, (
        f"README.md has {lines} lines, more than {MAX_LINES}: move details to docs/")


def test_readme_option_table_is_the_generated_one():
    text = README.read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1, (
        f"README.md must hold each option marker line once:\n{BEGIN}\n{END}")
    block = text.split(BEGIN, 1)[1].split(END, 1)[0]
    block = block.removeprefix("\n")
    expected = options_markdown(build_parser())
    assert block.removesuffix("\n") == expected.removesuffix("\n"), (
        "the option table in README.md differs from the parser's: run "
        "`python -m toygan.run --options-markdown` and paste its output between the "
        "option markers")


def markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def relative_links(text: str) -> list[str]:
    """The relative link targets of a Markdown text (code blocks left out), without their
    #anchor parts; links to the web, mail and anchors of the same page are not files."""
    targets = []
    for target in LINK.findall(FENCE.sub("", text)):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, flags=re.I) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0]
        if path:
            targets.append(path)
    return targets


def test_relative_links_point_to_existing_files():
    missing = []
    for md in markdown_files():
        for target in relative_links(md.read_text()):
            if not (md.parent / target).exists():
                missing.append(f"{md.relative_to(ROOT)}: {target}")
    assert not missing, "links to missing files:\n" + "\n".join(missing)


def test_the_link_checker_sees_links():
    text = "[a](docs/a.md#x) ![b](figures/b.png) [w](https://x.org) [h](#top)\n```\n[c](c.md)\n```"
    assert relative_links(text) == ["docs/a.md", "figures/b.png"]


def test_quick_start_holds_exactly_its_two_commands():
    body = section(README.read_text(), "## Quick start")
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", body, flags=re.M | re.S)
    assert len(blocks) == 1, "the Quick start must hold one code block"
    commands = [line.strip() for line in blocks[0].splitlines()
                if line.strip() and not line.strip().startswith("#")]
    assert commands == QUICK_START_COMMANDS, (
        "the Quick start's code block must hold exactly its two commands (CI runs the "
        f"second): {QUICK_START_COMMANDS}")
