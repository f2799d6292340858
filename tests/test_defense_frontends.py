"""One defense value, one kernel: ``lltd defend``, ``lltd watch`` (command line and TOML),
``lltd.defend()`` and ``WebPFlip`` give identical pixels for the same settings, randomised or
not."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLE_DATA, RunLltd
from waiting import wait_for

import lltd
from lltd.defense import DefenseSettings
from lltd.imaging.imageio import open_image

# name -> (command-line flags, TOML settings, the value they mean)
CASES = {
    "paper": ([], {}, DefenseSettings()),
    "variant": (
        ["-q", "35", "--direction", "vertical", "--order", "flip-webp", "-m", "2"],
        {"quality": 35, "direction": "vertical", "order": "flip-webp", "method": 2},
        DefenseSettings(quality=35, flip="vertical", order="flip-webp", method=2),
    ),
    "randomised": (
        [
            "--quality-range",
            "30-70",
            "--direction",
            "random",
            "--resize-pad",
            "0.2",
            "--seed",
            "11",
        ],
        {"quality_range": [30, 70], "direction": "random", "resize_pad": 0.2, "seed": 11},
        DefenseSettings(quality_range=(30, 70), flip="random", resize_pad=0.2, seed=11),
    ),
}


def outputs(root: Path) -> dict[str, np.ndarray]:
    """Relative path (no suffix) -> decoded pixels, for every defended file under ``root``."""
    found = {}
    for path in sorted(root.rglob("*.png")):
        relative = path.relative_to(root)
        if relative.parts[0] in ("failed", ".lltd"):
            continue
        with open_image(path) as image:
            found[relative.with_suffix("").as_posix()] = np.asarray(image)
    return found


def run_watch(
    tmp_path: Path, source: Path, args: list[str], expected: int
) -> dict[str, np.ndarray]:
    """``lltd watch`` over a copy of ``source`` until it has written ``expected`` outputs."""
    inbox, out = tmp_path / "watch-in", tmp_path / "watch-out"
    shutil.copytree(source, inbox)  # copy2 keeps the old mtimes: a backlog, no settling needed
    log = (tmp_path / "watch.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "lltd", "watch", *args, "--on-success", "keep", "--quiet", "-j", "1"]
        + ([str(inbox), "-o", str(out)] if "--config" not in args else []),
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
        env={**os.environ, "LLTD_CACHE_DIR": str(tmp_path / ".cache")},
    )

    def written() -> bool:
        assert process.poll() is None, (tmp_path / "watch.log").read_text()
        # Outputs appear by rename: each one is complete once it exists.
        return out.is_dir() and len(outputs(out)) >= expected

    try:
        wait_for(written, f"lltd watch to write {expected} outputs")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        log.close()
    return outputs(out)


@pytest.mark.parametrize("case", list(CASES))
def test_defend_watch_and_the_library_give_identical_pixels(
    case: str, tmp_path: Path, run_lltd: RunLltd
) -> None:
    flags, toml, settings = CASES[case]
    source = tmp_path / "in"
    shutil.copytree(SAMPLE_DATA, source)
    result = run_lltd("defend", source, "-o", tmp_path / "cli", "-j", "2", "--quiet", *flags)
    assert result.returncode == 0, result.stderr
    cli = outputs(tmp_path / "cli")
    assert len(cli) == 10

    library = {}
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        relative = path.relative_to(source).as_posix()
        with open_image(path) as image:
            library[path.relative_to(source).with_suffix("").as_posix()] = np.asarray(
                lltd.defend(image, settings, key=relative)
            )
    if case == "randomised":
        # The TOML spelling of the same settings, through `lltd watch --config`.
        config = tmp_path / "watch.toml"
        lines = [f"{k} = {v!r}".replace("'", '"') for k, v in toml.items()]
        folder = (
            f'[[folder]]\ninput = "{tmp_path / "watch-in"}"\noutput = "{tmp_path / "watch-out"}"'
        )
        config.write_text("[defaults]\n" + "\n".join(lines) + "\n" + folder + "\n")
        watched = run_watch(tmp_path, SAMPLE_DATA, ["--config", str(config)], len(cli))
    else:
        watched = run_watch(tmp_path, SAMPLE_DATA, flags, len(cli))

    assert cli.keys() == library.keys() == watched.keys()
    for name, pixels in cli.items():
        np.testing.assert_array_equal(library[name], pixels, err_msg=f"lltd.defend: {name}")
        np.testing.assert_array_equal(watched[name], pixels, err_msg=f"lltd watch: {name}")
    if case == "randomised":
        # The draws really differ between files (so the equalities above are not trivially met).
        shapes = {name: settings.draw(settings.rng(name)) for name in cli}
        assert len({draw.quality for draw in shapes.values()}) > 1


@pytest.mark.parametrize("case", list(CASES))
def test_webpflip_gives_the_library_pixels(case: str, tmp_path: Path, run_lltd: RunLltd) -> None:
    torch = pytest.importorskip("torch")
    from lltd.torch import WebPFlip

    flags, _, settings = CASES[case]
    written = {}
    if not settings.randomised:
        result = run_lltd("defend", SAMPLE_DATA, "-o", tmp_path / "cli", "--quiet", *flags)
        assert result.returncode == 0, result.stderr
        written = outputs(tmp_path / "cli")
    paths = sorted(p for p in SAMPLE_DATA.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    assert len(paths) == 5
    for path in paths:
        with open_image(path) as image:
            pil = image.convert("RGB")
        tensor = torch.from_numpy(np.asarray(pil).copy()).permute(2, 0, 1)
        expected = np.asarray(lltd.defend(pil, settings))
        out = WebPFlip(settings=settings, workers=1)(tensor)
        np.testing.assert_array_equal(out.permute(1, 2, 0).numpy(), expected, err_msg=path.name)
        # lltd.defend() on a tensor dispatches to the same kernel; floats come back as /255.
        np.testing.assert_array_equal(
            lltd.defend(tensor, settings).permute(1, 2, 0).numpy(), expected, err_msg=path.name
        )
        floats = lltd.defend(tensor.float() / 255, settings)
        assert floats.dtype == torch.float32
        assert torch.equal((floats * 255).round().to(torch.uint8), out)
        if written:  # ... and what `lltd defend` writes for this file.
            name = path.relative_to(SAMPLE_DATA).with_suffix("").as_posix()
            np.testing.assert_array_equal(written[name], expected, err_msg=path.name)
