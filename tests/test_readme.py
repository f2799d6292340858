"""The README's examples are tests: every ``sh`` and ``python`` block runs against sample data
(the conventions are in tests/markdown_examples.py), and its checkable claims hold: under 300
lines, the Quick start ends with what CI runs, every link leads somewhere. The pages under docs/
are tested the same way in tests/test_docs.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO
from markdown_examples import (
    RUNNABLE,
    Example,
    broken_links,
    examples,
    make_template,
    run_example,
    unhandled,
)

README = REPO / "README.md"
EXAMPLES = examples(README.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The placeholder files, made once and copied for each example."""
    return make_template(tmp_path_factory.mktemp("readme-template"))


@pytest.mark.parametrize(
    "example",
    [e for e in EXAMPLES if e.lang in RUNNABLE],
    ids=lambda e: e.name,
)
def test_readme_example(example: Example, template: Path, tmp_path: Path) -> None:
    if example.skip:
        pytest.skip(f"{example.name}: {example.skip}")
    run_example(example, template, tmp_path)


def test_every_block_is_runnable_shown_or_checked() -> None:
    assert not unhandled(EXAMPLES)


def test_quick_start_ends_with_the_ci_command() -> None:
    text = README.read_text(encoding="utf-8")
    quick_start = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = [e for e in examples(quick_start) if e.lang == "sh"]
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert blocks[-1].code.strip() == ci, "the Quick start's last command is what .ci/run runs"
    assert "full test suite" in quick_start, "the CI command is labelled as the full test suite"


def test_quick_start_installs_lltd_as_a_user_keeps_it() -> None:
    quick_start = README.read_text(encoding="utf-8").split("## Quick start", 1)[1]
    first = next(e for e in examples(quick_start) if e.lang == "sh")
    assert "pip install ." in first.code and "-e" not in first.code.split(), first.code


def test_readme_is_a_page_a_newcomer_reads() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 300, f"README.md has {len(lines)} lines; the rest belongs in docs/"
    long = [n for n, line in enumerate(lines, 1) if len(line) > 100 and not line.startswith("<!--")]
    assert not long, f"README.md lines over 100 characters: {long}"


def test_links_lead_somewhere() -> None:
    assert not broken_links(README), f"README links to nothing: {broken_links(README)}"


def test_every_command_has_an_example() -> None:
    from lltd.cli import COMMANDS

    shown = " ".join(e.code for e in EXAMPLES if e.lang == "sh")
    missing = [name for name in COMMANDS if f"lltd {name} " not in shown]
    assert not missing, f"the README shows no example of lltd {missing}"
