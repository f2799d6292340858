"""The examples of the README and of docs/ as tests: find every fenced block, run ``sh`` and
``python`` blocks against sample data.

Conventions (documented in tests/README.md and docs/contributing.md): each example runs in a fresh
folder holding ``sample_data/``, ``photos/``, ``uploads/``, ``adversarial/``, ``in/`` (copies of
the sample images), ``in.png`` and ``in put's.png``; ``lltd`` is this tree's command line. A block
that cannot run there carries ``<!-- docs-test: skip: REASON -->`` on the line before it
(``readme-test`` is read as the same marker).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from conftest import REPO, SAMPLE_DATA, guarded_pythonpath

DOCS = REPO / "docs"
PLACEHOLDER_FOLDERS = ("photos", "uploads", "adversarial", "in")
PLACEHOLDER_FILES = ("in.png", "in put's.png")
RUNNABLE = ("sh", "python")
#: Languages a page may show without running them.
SHOWN = ("toml", "ini", "text", "json", "")
MARKER = re.compile(r"^<!--\s*(?:docs|readme)-test:\s*(?P<verb>[a-z-]+)\s*:\s*(?P<arg>.*?)\s*-->$")
FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w-]*)\s*$")


@dataclass(frozen=True)
class Example:
    page: str  # relative to the repository
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    skip: str | None

    @property
    def name(self) -> str:
        first = next((ln for ln in self.code.splitlines() if ln and not ln.startswith("#")), "")
        words = re.sub(r"[^\w.-]+", "_", " ".join(first.split()[:2])).strip("_")
        return f"{self.page}:{self.line}:{self.lang}:{words}"


def examples(text: str, page: str = "README.md") -> list[Example]:
    """Every fenced block of ``text`` with its language and skip marker."""
    found: list[Example] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, lang, start = opening["indent"], opening["lang"], index
        body: list[str] = []
        index += 1
        while index < len(lines) and lines[index].strip() != "```":
            body.append(lines[index].removeprefix(indent))
            index += 1
        previous = next((ln.strip() for ln in reversed(lines[:start]) if ln.strip()), "")
        marker = MARKER.match(previous)
        if marker and marker["verb"] != "skip":
            raise ValueError(f"{page}:{start}: unknown docs-test marker {previous!r}")
        skip = marker["arg"] if marker else None
        if marker and not skip:
            raise ValueError(f"{page}:{start}: a skip marker needs its reason")
        found.append(Example(page, start + 1, lang, "\n".join(body) + "\n", skip))
        index += 1
    return found


def pages() -> list[Path]:
    """The Markdown pages of the site (the hooks folder holds code, not pages)."""
    return sorted(p for p in DOCS.rglob("*.md") if "hooks" not in p.relative_to(DOCS).parts)


def page_examples(paths: list[Path]) -> list[Example]:
    return [
        example
        for path in paths
        for example in examples(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))
    ]


def make_template(root: Path) -> Path:
    """The placeholder files in ``root``, made once and copied for each example, and an
    ``lltd`` shim beside it (:func:`_bin_dir`) that runs this tree's command line."""
    shutil.copytree(SAMPLE_DATA, root / "sample_data")
    top_images = [path for path in SAMPLE_DATA.iterdir() if path.is_file()]
    for folder in PLACEHOLDER_FOLDERS:
        (root / folder).mkdir()
        for image in top_images:
            shutil.copy2(image, root / folder / image.name)
    for name in PLACEHOLDER_FILES:
        shutil.copy2(SAMPLE_DATA / "astronaut.png", root / name)
    bin_dir = _bin_dir(root)
    bin_dir.mkdir()
    shim = bin_dir / "lltd"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m lltd "$@"\n')
    shim.chmod(0o755)
    return root


def _bin_dir(template: Path) -> Path:
    return template.parent / f"{template.name}-bin"


def _environment(work: Path, bin_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LLTD_SCHEDULER", "PYTHONPATH")}
    env |= {
        "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONPATH": guarded_pythonpath(REPO),
        "LLTD_CACHE_DIR": str(work / ".lltd-cache"),
        "TORCH_HOME": str(work / ".torch"),  # never reach out for weights
    }
    return env


def run_example(example: Example, template: Path, tmp_path: Path) -> None:
    """Run ``example`` in a copy of ``template``; fail with its output unless it exits 0."""
    work = tmp_path / "work"
    shutil.copytree(template, work, symlinks=False)
    command = (
        ["bash", "-e", "-o", "pipefail", "-c", example.code]
        if example.lang == "sh"
        else [sys.executable, "-c", example.code]
    )
    result = subprocess.run(
        command,
        cwd=work,
        env=_environment(work, _bin_dir(template)),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, (
        f"the example at {example.name} failed (exit status {result.returncode}):\n"
        f"{example.code}\n--- stdout (tail)\n{result.stdout[-1500:]}\n"
        f"--- stderr (tail)\n{result.stderr[-3000:]}"
    )


def unhandled(found: list[Example]) -> list[str]:
    """Blocks of a language no test runs or shows, and skip markers on blocks never run."""
    unknown = [e.name for e in found if e.lang not in (*RUNNABLE, *SHOWN)]
    stray = [f"{e.name} (skip marker)" for e in found if e.skip and e.lang not in RUNNABLE]
    return unknown + stray


def anchor(heading: str) -> str:
    """The anchor of a heading, as GitHub and MkDocs' toc make it: lower case, punctuation
    dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    outside_code = re.sub(r"```.*?```", "", markdown, flags=re.S)
    return {anchor(h) for h in re.findall(r"^#{1,6} (.+)$", outside_code, re.M)}


def broken_links(page: Path) -> list[str]:
    """Relative links of ``page`` that lead to no file, or to no heading of a Markdown file."""
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+:", target):
            continue
        path, _, fragment = target.partition("#")
        destination = (page.parent / path) if path else page
        if not destination.exists() or (
            fragment
            and destination.suffix == ".md"
            and fragment not in anchors(destination.read_text(encoding="utf-8"))
        ):
            broken.append(target)
    return broken
