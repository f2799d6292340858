"""The documentation site (docs/, mkdocs.yml) as tests: every ``sh`` and ``python`` block of every
page runs against sample data (conventions in tests/markdown_examples.py), ``mkdocs build
--strict`` passes, the command reference holds every option the command line has, the pages'
checkable claims hold, and headless Chromium renders the home page and a reference page with
their images and no broken internal link.
"""

from __future__ import annotations

import functools
import html
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
from conftest import REPO, systemd_exposure
from markdown_examples import (
    DOCS,
    RUNNABLE,
    Example,
    broken_links,
    make_template,
    page_examples,
    pages,
    run_example,
    unhandled,
)

PAGES = pages()
EXAMPLES = page_examples(PAGES)
COMMANDS = ("attack", "compress", "cwebp", "defend", "evaluate", "flip", "serve", "watch")


def _text(relative: str) -> str:
    """A page's text with its lines joined, so that a claim may wrap."""
    return " ".join((DOCS / relative).read_text(encoding="utf-8").split())


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_template(tmp_path_factory.mktemp("docs-template"))


@pytest.mark.parametrize(
    "example", [e for e in EXAMPLES if e.lang in RUNNABLE], ids=lambda e: e.name
)
def test_docs_example(example: Example, template: Path, tmp_path: Path) -> None:
    if example.skip:
        pytest.skip(f"{example.name}: {example.skip}")
    run_example(example, template, tmp_path)


def test_every_block_is_runnable_shown_or_checked() -> None:
    assert EXAMPLES, "docs/ has example blocks"
    assert not unhandled(EXAMPLES)


def test_every_page_is_in_the_nav_and_every_nav_entry_is_a_page() -> None:
    config = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    listed = set(re.findall(r":\s*(\S+\.md)\s*$", config, re.M))
    present = {str(p.relative_to(DOCS)) for p in PAGES}
    assert listed == present, (
        f"mkdocs.yml's nav and docs/ differ: not in the nav {sorted(present - listed)}, "
        f"no such page {sorted(listed - present)}"
    )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_links_lead_somewhere(page: Path) -> None:
    assert not broken_links(page), (
        f"{page.relative_to(REPO)} links to nothing: {broken_links(page)}"
    )


# -- the site, built -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mkdocs", reason="needs the docs extra (mkdocs)")
    pytest.importorskip("material", reason="needs the docs extra (mkdocs-material)")
    out = tmp_path_factory.mktemp("site") / "site"
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "-q",
            "-f",
            REPO / "mkdocs.yml",
            "-d",
            out,
        ],
        cwd=REPO,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, f"mkdocs build --strict failed:\n{built.stderr[-4000:]}"
    return out


def test_mkdocs_build_strict_passes(site: Path) -> None:
    assert (site / "index.html").is_file()
    assert (site / "reference" / "compress" / "index.html").is_file()


@pytest.mark.parametrize("name", COMMANDS)
def test_the_reference_holds_every_option_of_the_command(site: Path, name: str) -> None:
    import typer

    from lltd.cli import _app

    command = typer.main.get_command(_app()).commands[name]
    page = (site / "reference" / name / "index.html").read_text(encoding="utf-8")
    options = [
        opt
        for param in command.params
        if param.param_type_name == "option" and not getattr(param, "hidden", False)
        for opt in (*param.opts, *param.secondary_opts)
    ]
    missing = [opt for opt in options if f"<code>{html.escape(opt)}</code>" not in page]
    assert not missing, f"the reference of lltd {name} lacks {missing}"
    for param in command.params:
        choices = getattr(param.type, "choices", None) or ()
        absent = [c for c in choices if str(c) not in page]
        assert not absent, f"lltd {name} {param.opts}: choices {absent} not in the reference"
        shown = param.metavar if isinstance(param.metavar, str) else None
        assert not shown or html.escape(shown) in page, f"lltd {name}: {shown} not shown"
    if name == "cwebp":
        from lltd.codecs.cwebp_options import OPTIONS

        absent = [s.name for s in OPTIONS if f"<code>{html.escape(s.name)}</code>" not in page]
        assert not absent, f"the cwebp option table lacks {absent}"


# -- claims of the pages ---------------------------------------------------------------------


def test_toml_example_is_systemd_example_toml() -> None:
    shipped = (REPO / "systemd" / "example.toml").read_text(encoding="utf-8")
    tomls = [e for e in EXAMPLES if e.lang == "toml"]
    assert tomls, "the docs show systemd/example.toml"
    for example in tomls:
        assert example.code == shipped, f"{example.name} differs from systemd/example.toml"


def _backticked(sentence: str) -> set[str]:
    return set(re.findall(r"`([a-z_]+)`", sentence))


def test_watch_settings_match_the_guide_and_the_options() -> None:
    from lltd.watch.config import GLOBAL_KEYS, OPTION_KEYS

    text = _text("guide/drop-folders.md")
    daemon = re.search(r"Settings for the whole daemon \((`.*?)\) go at the top level", text)
    folder = re.search(r"the per-folder settings \((`.*?)\) go in", text)
    assert daemon and folder, "the guide lists the daemon-wide and per-folder settings"
    for listed, keys, where in [
        (_backticked(daemon[1]), GLOBAL_KEYS, "Settings for the whole daemon (...)"),
        (_backticked(folder[1]), OPTION_KEYS, "the per-folder settings (...)"),
    ]:
        assert listed == keys, (
            f"docs/guide/drop-folders.md's watch list '{where}' must name exactly the settings "
            f"of lltd/watch/config.py: add {sorted(keys - listed)}, remove {sorted(listed - keys)}"
        )

    shown = subprocess.run(
        [sys.executable, "-m", "lltd", "watch", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        check=True,
    ).stdout
    options = set(re.findall(r"(?<![\w-])--([a-z][a-z-]+)", shown))
    # The exceptions the guide states: folders are tables, --no-fsync is fsync = false.
    renamed = {"no-fsync": "fsync", "output-directory": "output"}
    without_setting = {"config", "help"}
    missing = {
        option
        for option in options - without_setting
        if renamed.get(option, option.replace("-", "_"))
        not in GLOBAL_KEYS | OPTION_KEYS | {"output"}
    }
    assert not missing, f"watch options without a setting the guide does not mention: {missing}"
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
SECURITY_CLAIMS = SECURITY_CLAIM.findall(_text("operations/systemd.md"))


def test_the_operations_page_states_systemd_analyze_figures() -> None:
    units = {unit for unit, _ in SECURITY_CLAIMS}
    assert units == {"systemd/lltd-watch@.service", "systemd/lltd-serve@.service"}, units


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
@pytest.mark.parametrize(("unit", "claimed"), SECURITY_CLAIMS)
def test_systemd_analyze_security_figure_is_measured(unit: str, claimed: str) -> None:
    measured = systemd_exposure(unit)
    assert claimed == measured, f"the docs say {unit} rates {claimed}; measured {measured}"


def test_architecture_names_only_what_exists() -> None:
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    block = text.split("```", 2)[1]
    named = [
        name
        for line in block.splitlines()
        if line.startswith("  ") and not line.startswith("   ")
        for name in re.findall(r"([\w./]+(?:\.py|/))(?=[ ,])", line.split("  ")[1] + " ")
    ]
    assert len(named) > 15, named
    missing = [name for name in named if not (REPO / "lltd" / name).exists()]
    assert not missing, f"docs/architecture.md names what lltd/ no longer has: {missing}"
    packages = {p.name for p in (REPO / "lltd").iterdir() if (p / "__init__.py").is_file()}
    unnamed = sorted(p for p in packages if f"{p}/" not in block)
    assert not unnamed, f"docs/architecture.md leaves out the packages {unnamed}"


# -- the site in a browser -------------------------------------------------------------------

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Nothing but the loopback server can be reached: a page that needs the network fails here.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
)


class _Served:
    """The built site on a loopback port, with every request the browser made and its status."""

    def __init__(self, root: Path) -> None:
        self.requests: list[tuple[str, int]] = []
        served = self

        class Handler(SimpleHTTPRequestHandler):
            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                served.requests.append((unquote(urlsplit(self.path).path), int(code)))

            def log_message(self, format: str, *args: object) -> None:
                pass

        handler = functools.partial(Handler, directory=str(root))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture(scope="session")
def served(site: Path) -> Iterator[_Served]:
    serving = _Served(site)
    yield serving
    serving.close()


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("needs Debian's chromium (.ci/setup installs it as root)")


def _browse(url: str, tmp_path: Path, *action: str) -> str:
    """Run headless Chromium on ``url`` with a fresh profile; its stdout. What it starts it
    stops: the whole process group, by the browser's PID, if it outlives the timeout."""
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    browser = subprocess.Popen(
        [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *action, url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = browser.communicate(timeout=120)
    finally:
        if browser.poll() is None:
            os.killpg(browser.pid, signal.SIGKILL)
            browser.wait()
    assert browser.returncode == 0, f"chromium failed on {url}:\n{err[-2000:]}"
    return out


def _target_exists(site: Path, url: str, base: str) -> bool:
    parts = urlsplit(url)
    path = unquote(parts.path).removeprefix(urlsplit(base).path)
    target = site / path
    if path.endswith("/") or not path or target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        return False
    if parts.fragment and target.suffix == ".html":
        text = target.read_text(encoding="utf-8")
        return f'id="{parts.fragment}"' in text
    return True


@pytest.mark.parametrize(
    ("path", "title"),
    [("", "lltd — low-level transformation defense"), ("reference/defend/", "lltd defend")],
)
def test_the_browser_renders_the_page_with_its_images_and_links(
    site: Path, served: _Served, tmp_path: Path, path: str, title: str
) -> None:
    url = served.base + path
    before = len(served.requests)
    dom = _browse(url, tmp_path, "--virtual-time-budget=5000", "--dump-dom")
    requests = served.requests[before:]

    heading = re.search(r"<h1[^>]*>(.*?)</h1>", dom, re.S)
    assert heading, f"{url}: no heading rendered"
    assert html.unescape(re.sub(r"<[^>]+>", "", heading[1])).strip().rstrip("¶") == title
    assert 'class="md-content"' in dom, f"{url}: the theme did not render"

    article = dom.split('class="md-content"', 1)[1]
    images = [
        urljoin(url, html.unescape(src)) for src in re.findall(r'<img[^>]*\ssrc="([^"]+)"', article)
    ]
    fetched = {(p, status) for p, status in requests}
    for image in images:
        assert urlsplit(image).netloc == urlsplit(url).netloc, f"{url}: an image from elsewhere"
        assert (unquote(urlsplit(image).path), 200) in fetched, (
            f"{url}: the browser did not load {image}: {sorted(fetched)}"
        )
    if path == "":
        assert len(images) >= 2, "the home page shows the photograph before and after"

    failed = [(p, status) for p, status in requests if status >= 400]
    assert not failed, f"{url}: the browser asked for what the site does not have: {failed}"

    links = [urljoin(url, html.unescape(h)) for h in re.findall(r'<a[^>]*\shref="([^"]+)"', dom)]
    internal = [link for link in links if link.startswith(served.base)]
    assert internal, f"{url}: no internal links found"
    broken = [link for link in internal if not _target_exists(site, link, served.base)]
    assert not broken, f"{url}: broken internal links {broken}"


def test_the_home_page_paints_something(site: Path, served: _Served, tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "home.png"
    _browse(served.base, tmp_path, "--window-size=1200,900", f"--screenshot={shot}")
    with Image.open(shot) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50, "the screenshot of the home page is blank"


def test_getting_started_lists_every_extra() -> None:
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]
    text = (DOCS / "getting-started.md").read_text(encoding="utf-8")
    for_the_suite = {"test", "model-servers"}  # the tests' own (.ci/setup), not a user's
    missing = [
        name
        for name in extras
        if name not in for_the_suite and f"pip install '.[{name}]'" not in text
    ]
    assert not missing, f"docs/getting-started.md does not say how to install {missing}"
