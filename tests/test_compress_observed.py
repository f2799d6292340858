"""compress's rules seen while they act, not only in the end state (issue 17 items 2-3).

The mutation campaign left bugs whose end state is right: an equal-size WebP published and
removed a moment later, a node someone placed at the destination during the encode removed, the
decoder's diagnosis replaced by the encoder's. These tests watch the destination folder with
inotify (a reader that sees every name published there), plant nodes from a stub encoder, and read
the exact messages a user gets.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import select
import struct
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import RunLltd, assert_one_line_error, digest
from test_compress_boundaries import QUALITY, noise_webp_size, png_padded_to

IN_CREATE, IN_MOVED_TO = 0x100, 0x80
SENTINEL = "zz-sentinel"


class FolderReader:
    """Every name that appears in one folder (created or renamed into it), from inotify.

    The kernel queues the events, so a file published and removed at once is still seen. Reading
    stops at a sentinel file created after the run: every earlier event has been read by then.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0, os.strerror(ctypes.get_errno())
        watch = libc.inotify_add_watch(self.fd, bytes(folder), IN_CREATE | IN_MOVED_TO)
        assert watch >= 0, os.strerror(ctypes.get_errno())

    def names(self, timeout: float = 120) -> list[str]:
        (self.folder / SENTINEL).touch()
        seen: list[str] = []
        buffer = b""
        while SENTINEL not in seen:
            ready, _, _ = select.select([self.fd], [], [], timeout)
            assert ready, f"no inotify event within {timeout} s"
            buffer += os.read(self.fd, 65536)
            while len(buffer) >= 16:
                _, _, _, length = struct.unpack("iIII", buffer[:16])
                name = buffer[16 : 16 + length].rstrip(b"\0").decode()
                buffer = buffer[16 + length :]
                seen.append(name)
        os.close(self.fd)
        return seen


def test_a_webp_as_large_as_its_original_is_never_published_not_even_for_an_instant(
    tmp_path: Path, run_lltd: RunLltd
) -> None:
    size = noise_webp_size()
    src = tmp_path / "in"
    png_padded_to(src / "equal.png", size)
    png_padded_to(src / "smaller.png", size + 1)
    out = tmp_path / "out"
    out.mkdir()
    reader = FolderReader(out)
    result = run_lltd("compress", src, "-q", QUALITY, "-o", out)
    assert result.returncode == 0, result.stderr
    names = reader.names()
    # The watcher works: the kept WebP was seen arriving, by rename from its temporary file.
    assert "smaller.webp" in names and any(n.startswith(".smaller.webp.") for n in names)
    # The equal-size one never appears under its own name. (The pillow backend encodes into
    # memory and compares sizes before creating any file, so not even a temporary is made.)
    assert not any(n.startswith(".equal.webp.") for n in names), names
    assert "equal.webp" not in names, names
    assert not (out / "equal.webp").exists()


def planting_cwebp(folder: Path) -> Path:
    """A cwebp stand-in whose WebP is larger than its input, and which plants a node (a FIFO, or a
    link to someone's file) at the destination while it encodes."""
    script = folder / "planting-cwebp"
    script.write_text(
        f"#!{sys.executable}\n"
        + textwrap.dedent(
            """
            import os, pathlib, sys
            argv = sys.argv[1:]
            target = pathlib.Path(argv[argv.index("-o") + 1])
            source = pathlib.Path(argv[-1])
            target.write_bytes(b"W" * (source.stat().st_size + 100))
            destination = pathlib.Path(os.environ["PLANT_AT"])
            if os.environ["PLANT_KIND"] == "fifo":
                os.mkfifo(destination)
            else:
                destination.symlink_to(os.environ["PLANT_TARGET"])
            """
        )
    )
    script.chmod(0o755)
    return script


@pytest.mark.parametrize("kind", ["fifo", "symlink"])
def test_a_node_placed_at_the_destination_during_the_encode_is_left_alone(
    tmp_path: Path, run_lltd: RunLltd, make_image, kind: str
) -> None:
    src = tmp_path / "in"
    photo = make_image(src / "photo.png", size=(64, 64))
    out = tmp_path / "out"
    out.mkdir()
    theirs = tmp_path / "their file"
    theirs.write_bytes(b"not ours")
    stub = planting_cwebp(tmp_path)
    env = {"PLANT_AT": str(out / "photo.webp"), "PLANT_KIND": kind, "PLANT_TARGET": str(theirs)}
    result = run_lltd(
        "compress", src, "-q", QUALITY, "-o", out, "--backend", "cwebp", "--cwebp", stub,
        "--json", tmp_path / "r.json", env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    files = json.loads((tmp_path / "r.json").read_text())["files"]
    assert [f["outcome"] for f in files] == ["larger"]
    assert digest(out / "origin" / "photo.png") == digest(photo)
    # Not the output the planner handed out: someone else's node, never removed.
    node = out / "photo.webp"
    assert node.is_fifo() if kind == "fifo" else node.is_symlink()
    assert theirs.read_bytes() == b"not ours"


def test_a_truncated_image_is_diagnosed_by_the_decoder_not_the_encoder(
    tmp_path: Path, run_lltd: RunLltd, make_image
) -> None:
    """The Pillow backend decodes the pixels before encoding, so the user reads what is wrong
    with the file, not that libwebp failed."""
    src = tmp_path / "in"
    whole = make_image(src / "cut.png", size=(64, 64)).read_bytes()
    (src / "cut.png").write_bytes(whole[: len(whole) // 2])
    out = tmp_path / "out"
    result = run_lltd("compress", src, "-q", QUALITY, "-o", out, "--json", tmp_path / "r.json")
    assert result.returncode == 1
    assert_one_line_error(result.stderr, "cut.png", "corrupt or truncated image")
    [record] = json.loads((tmp_path / "r.json").read_text())["files"]
    assert record["error"].startswith("corrupt or truncated image"), record["error"]
    assert "could not encode" not in result.stderr


def test_a_replacement_that_does_not_decode_says_why_and_keeps_the_original(
    tmp_path: Path, run_lltd: RunLltd, make_image
) -> None:
    src = tmp_path / "in"
    photo = make_image(src / "photo.png", size=(64, 64))
    kept = digest(photo)
    fake = tmp_path / "fake-cwebp"
    fake.write_text('#!/bin/sh\nwhile [ "$1" != "-o" ]; do shift; done\nprintf RIFFjunk > "$2"\n')
    fake.chmod(0o755)
    result = run_lltd(
        "compress", src, "--r", "-q", QUALITY, "--backend", "cwebp", "--cwebp", fake,
        "--json", tmp_path / "r.json",
    )  # fmt: skip
    assert result.returncode == 1
    [record] = json.loads((tmp_path / "r.json").read_text())["files"]
    # The decoder's own reason, inside the exact sentence.
    assert re.fullmatch(
        r"the WebP does not decode \(cannot identify image file .*photo\.webp.*\); original kept",
        record["error"],
    ), record["error"]
    assert digest(photo) == kept and not (src / "photo.webp").exists()
    assert sorted(p.name for p in src.iterdir()) == ["photo.png"]
