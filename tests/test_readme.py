"""The README's examples are tests: every ``sh`` and ``python`` block runs against sample data.

Conventions (documented in tests/README.md): each example runs in a fresh folder holding
``sample_data/``, ``photos/``, ``uploads/``, ``adversarial/``, ``in/`` (copies of the sample
images), ``in.png`` and ``in put's.png``; ``lltd`` is this tree's command line. A block that cannot
run here carries ``<!-- readme-test: skip: REASON -->`` on the line before it. ``toml`` blocks must
equal systemd/example.toml. Other checkable claims of the README are tested here too.
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

import pytest
from conftest import REPO, SAMPLE_DATA, guarded_pythonpath, systemd_exposure

README = REPO / "README.md"
PLACEHOLDER_FOLDERS = ("photos", "uploads", "adversarial", "in")
PLACEHOLDER_FILES = ("in.png", "in put's.png")
RUNNABLE = ("sh", "python")
MARKER = re.compile(r"^<!--\s*readme-test:\s*(?P<verb>[a-z-]+)\s*:\s*(?P<arg>.*?)\s*-->$")
FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w-]*)\s*$")


@dataclass(frozen=True)
class Example:
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    skip: str | None

    @property
    def name(self) -> str:
        first = next((ln for ln in self.code.splitlines() if ln and not ln.startswith("#")), "")
        words = re.sub(r"[^\w.-]+", "_", " ".join(first.split()[:2])).strip("_")
        return f"README.md:{self.line}:{self.lang}:{words}"


def examples(text: str) -> list[Example]:
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
            raise ValueError(f"README.md:{start}: unknown readme-test marker {previous!r}")
        skip = marker["arg"] if marker else None
        if marker and not skip:
            raise ValueError(f"README.md:{start}: a skip marker needs its reason")
        found.append(Example(start + 1, lang, "\n".join(body) + "\n", skip))
        index += 1
    return found


EXAMPLES = examples(README.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The placeholder files, made once and copied for each example."""
    root = tmp_path_factory.mktemp("readme-template")
    shutil.copytree(SAMPLE_DATA, root / "sample_data")
    top_images = [path for path in SAMPLE_DATA.iterdir() if path.is_file()]
    for folder in PLACEHOLDER_FOLDERS:
        (root / folder).mkdir()
        for image in top_images:
            shutil.copy2(image, root / folder / image.name)
    for name in PLACEHOLDER_FILES:
        shutil.copy2(SAMPLE_DATA / "astronaut.png", root / name)
    bin_dir = root.parent / "readme-bin"
    bin_dir.mkdir()
    shim = bin_dir / "lltd"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m lltd "$@"\n')
    shim.chmod(0o755)
    return root


def _environment(work: Path, bin_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LLTD_SCHEDULER", "PYTHONPATH")}
    env |= {
        "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONPATH": guarded_pythonpath(REPO),
        "LLTD_CACHE_DIR": str(work / ".lltd-cache"),
        "TORCH_HOME": str(work / ".torch"),  # never reach out for weights
    }
    return env


@pytest.mark.parametrize(
    "example",
    [e for e in EXAMPLES if e.lang in RUNNABLE],
    ids=lambda e: e.name,
)
def test_readme_example(example: Example, template: Path, tmp_path: Path) -> None:
    if example.skip:
        pytest.skip(f"{example.name}: {example.skip}")
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
        env=_environment(work, template.parent / "readme-bin"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, (
        f"the README example at {example.name} failed (exit status {result.returncode}):\n"
        f"{example.code}\n--- stdout (tail)\n{result.stdout[-1500:]}\n"
        f"--- stderr (tail)\n{result.stderr[-3000:]}"
    )


def test_every_block_is_runnable_shown_or_checked() -> None:
    known = {*RUNNABLE, "toml", "ini", ""}
    unknown = [e.name for e in EXAMPLES if e.lang not in known]
    assert not unknown, f"blocks of a language test_readme.py does not handle: {unknown}"
    stray = [e.name for e in EXAMPLES if e.skip and e.lang not in RUNNABLE]
    assert not stray, f"skip markers on blocks that are never run: {stray}"


def test_quick_start_ends_with_the_ci_command() -> None:
    text = README.read_text(encoding="utf-8")
    quick_start = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = [e for e in examples(quick_start) if e.lang == "sh"]
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert blocks[-1].code.strip() == ci, "the Quick start's last command is what .ci/run runs"


def test_toml_example_is_systemd_example_toml() -> None:
    shipped = (REPO / "systemd" / "example.toml").read_text(encoding="utf-8")
    tomls = [e for e in EXAMPLES if e.lang == "toml"]
    assert tomls, "the README shows systemd/example.toml"
    for example in tomls:
        assert example.code == shipped, f"{example.name} differs from systemd/example.toml"


def _backticked(sentence: str) -> set[str]:
    return set(re.findall(r"`([a-z_]+)`", sentence))


def test_watch_settings_match_the_readme_and_the_options() -> None:
    from lltd.watch.config import GLOBAL_KEYS, OPTION_KEYS

    text = " ".join(README.read_text(encoding="utf-8").split())
    daemon = re.search(r"Settings for the whole daemon \((`.*?)\) go at the top level", text)
    folder = re.search(r"the per-folder settings \((`.*?)\) go in", text)
    assert daemon and folder, "the README lists the daemon-wide and per-folder settings"
    for listed, keys, where in [
        (_backticked(daemon[1]), GLOBAL_KEYS, "Settings for the whole daemon (...)"),
        (_backticked(folder[1]), OPTION_KEYS, "the per-folder settings (...)"),
    ]:
        assert listed == keys, (
            f"README.md's watch list '{where}' must name exactly the settings of "
            f"lltd/watch/config.py: add {sorted(keys - listed)}, remove {sorted(listed - keys)}"
        )

    shown = subprocess.run(
        [sys.executable, "-m", "lltd", "watch", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": guarded_pythonpath(REPO), "COLUMNS": "200"},
        check=True,
    ).stdout
    options = set(re.findall(r"(?<![\w-])--([a-z][a-z-]+)", shown))
    # The exceptions the README states: folders are tables, --no-fsync is fsync = false.
    renamed = {"no-fsync": "fsync", "output-directory": "output"}
    without_setting = {"config", "help"}
    missing = {
        option
        for option in options - without_setting
        if renamed.get(option, option.replace("-", "_"))
        not in GLOBAL_KEYS | OPTION_KEYS | {"output"}
    }
    assert not missing, f"watch options without a setting the README does not mention: {missing}"
    option_of = {"fsync": "no-fsync"}
    unreachable = {
        key
        for key in GLOBAL_KEYS | OPTION_KEYS
        if option_of.get(key, key.replace("_", "-")) not in options
    }
    assert not unreachable, f"watch settings without a command-line option: {unreachable}"


SECURITY_CLAIM = re.compile(
    r"`systemd-analyze security --offline=true (systemd/\S+\.service)`[^`]*?rates it (\d+\.\d+)"
)
SECURITY_CLAIMS = SECURITY_CLAIM.findall(" ".join(README.read_text(encoding="utf-8").split()))


def test_the_readme_states_systemd_analyze_figures() -> None:
    assert SECURITY_CLAIMS, "the README states its units' systemd-analyze security figures"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
@pytest.mark.parametrize(("unit", "claimed"), SECURITY_CLAIMS)
def test_systemd_analyze_security_figure_is_measured(unit: str, claimed: str) -> None:
    measured = systemd_exposure(unit)
    assert claimed == measured, f"the README says {unit} rates {claimed}; measured {measured}"


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(markdown: str) -> set[str]:
    outside_code = re.sub(r"```.*?```", "", markdown, flags=re.S)
    return {_anchor(h) for h in re.findall(r"^#{1,6} (.+)$", outside_code, re.M)}


def _leads_somewhere(target: str) -> bool:
    path, _, fragment = target.partition("#")
    if path and not (REPO / path).exists():
        return False
    if not fragment:
        return True
    page = (REPO / path) if path else README
    return page.suffix != ".md" or fragment in _anchors(page.read_text(encoding="utf-8"))


def test_links_lead_somewhere() -> None:
    text = re.sub(r"```.*?```", "", README.read_text(encoding="utf-8"), flags=re.S)
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    assert len(targets) > 10
    broken = [t for t in targets if not t.startswith("http") and not _leads_somewhere(t)]
    assert not broken, f"README links to nothing: {broken}"


def test_architecture_names_only_what_exists() -> None:
    text = README.read_text(encoding="utf-8").split("## Architecture", 1)[1]
    block = text.split("```", 2)[1]
    named = [
        name
        for line in block.splitlines()
        if line.startswith("  ") and not line.startswith("   ")
        for name in re.findall(r"([\w./]+(?:\.py|/))(?=[ ,])", line.split("  ")[1] + " ")
    ]
    assert len(named) > 15, named
    missing = [name for name in named if not (REPO / "lltd" / name).exists()]
    assert not missing, f"README's Architecture names what lltd/ no longer has: {missing}"
