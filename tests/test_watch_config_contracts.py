"""The contracts of lltd/watch/config.py (issue 27), in-process, on real TOML files: every setting
a config file may hold and its type, the defaults, which source wins (built-in < file <
command line), paths relative to the config file, every refusal as its exact one line, and which
folder layouts are refused (a folder watched twice, an output that is another folder's input).

Expected values are literals: a changed default, choice or message must fail here."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest

from lltd.common.errors import UsageError
from lltd.watch.config import (
    FolderConfig,
    WatchConfig,
    build,
    check_distinct,
    check_folder,
    check_global,
    load_file,
    location,
    parse_pair,
)


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "watch.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _refused(call, *args: object, **kwargs: object) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError) as refused:
        call(*args, **kwargs)
    return str(refused.value)


def _folder(**settings: object) -> FolderConfig:
    return FolderConfig(Path("in"), Path("out"), **settings)  # type: ignore[arg-type]


# --- the two values and their defaults ---


def test_a_folders_defaults() -> None:
    assert dataclasses.asdict(FolderConfig(Path("i"), Path("o"))) == {
        "input": Path("i"), "output": Path("o"), "action": "defend", "on_success": "move",
        "quality": None, "direction": "horizontal", "no_flip": False, "no_webp": False,
        "order": "webp-flip", "method": 4, "backend": "pillow", "cwebp": None, "format": None,
        "max_pixels": 89478485, "max_bytes": 1073741824, "quality_range": None,
        "resize_pad": None, "seed": None,
    }  # fmt: skip


def test_the_daemons_defaults() -> None:
    config = WatchConfig(folders=())
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    assert values == {
        "folders": (), "jobs": 0, "settle_ms": 1000, "settle_rule": "close", "stop_timeout": 30.0,
        "queue_size": 256, "rescan": 60.0, "polling": False, "status_file": None, "fsync": True,
        "worker_idle": 60.0, "shared": False, "claim_timeout": 30.0, "scheduler": None,
        "metrics_port": None, "quiet": False, "source": "command line",
    }  # fmt: skip


def test_both_values_are_frozen_and_hashable_and_the_source_is_not_compared() -> None:
    folder = _folder()
    config = WatchConfig(folders=(folder,), source="a.toml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        folder.quality = 3  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.jobs = 3  # type: ignore[misc]
    assert hash(folder) == hash(_folder())
    assert config == WatchConfig(folders=(folder,), source="command line")
    assert hash(config) == hash(WatchConfig(folders=(folder,)))


def test_the_annotations_are_types_that_tools_can_read() -> None:
    """``typing.get_type_hints`` (what doc tools and checkers evaluate) on both values."""
    folder = typing.get_type_hints(FolderConfig)
    assert folder["quality"] == float | None and folder["cwebp"] == str | None
    assert folder["format"] == str | None and folder["seed"] == int | None
    assert folder["quality_range"] == str | tuple[int, ...] | None
    assert folder["resize_pad"] == float | None
    config = typing.get_type_hints(WatchConfig)
    assert config["status_file"] == Path | None and config["scheduler"] == str | None
    assert config["metrics_port"] == str | None
    assert config["folders"] == tuple[FolderConfig, ...]


# --- the config file ---

EVERY_SETTING = """
jobs = 3
settle = 250.7
settle-rule = "quiet"
stop_timeout = 1.5
queue_size = 7
rescan = 2.5
polling = true
status_file = "state/status.json"
fsync = false
worker_idle = 3.5
shared = true
claim_timeout = 4.5
scheduler = "tcp://127.0.0.1:8786"
metrics_port = 9100
quiet = true

[defaults]
on_success = "delete"
max_pixels = 1000
max-bytes = 2000

[[folder]]
input = "a/in"
output = "a/out"
quality_range = [40, 80]
resize_pad = 0.1
seed = 7
no_flip = true
method = 6
format = "webp-lossless"
backend = "pillow"

[[folder]]
input = "/srv/b/in"
output = "~/b-out"
action = "compress"
quality = 70.5
no_webp = false
on_success = "move"
max_pixels = 1

[[folder]]
input = "c/in"
output = "c/out"
action = "flip"
direction = "vertical"
order = "flip-webp"
format = "png"
cwebp = "/usr/bin/cwebp"
"""


def test_every_setting_of_a_config_file_with_its_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = _toml(tmp_path, EVERY_SETTING)
    config = build(config_file=path)
    assert (config.jobs, config.settle_ms, config.settle_rule) == (3, 250, "quiet")
    assert (config.stop_timeout, config.queue_size, config.rescan) == (1.5, 7, 2.5)
    assert (config.polling, config.fsync, config.worker_idle) == (True, False, 3.5)
    assert (config.shared, config.claim_timeout, config.quiet) == (True, 4.5, True)
    assert (config.scheduler, config.metrics_port) == ("tcp://127.0.0.1:8786", 9100)
    assert config.status_file == tmp_path / "state" / "status.json"
    assert config.source == str(path)
    a, b, c = config.folders
    assert a == FolderConfig(
        tmp_path / "a" / "in", tmp_path / "a" / "out", on_success="delete", max_pixels=1000,
        max_bytes=2000, quality_range=(40, 80), resize_pad=0.1, seed=7, no_flip=True, method=6,
        format="webp-lossless",
    )  # fmt: skip
    assert type(a.quality_range) is tuple  # a list would make the frozen value unhashable
    assert b == FolderConfig(
        Path("/srv/b/in"), tmp_path / "home" / "b-out", action="compress", quality=70.5,
        on_success="move", max_pixels=1, max_bytes=2000,
    )  # fmt: skip
    assert c == FolderConfig(
        tmp_path / "c" / "in", tmp_path / "c" / "out", action="flip", direction="vertical",
        order="flip-webp", format="png", cwebp="/usr/bin/cwebp", on_success="delete",
        max_pixels=1000, max_bytes=2000,
    )  # fmt: skip


def test_a_file_with_folders_only_keeps_the_built_in_settings(tmp_path: Path) -> None:
    path = _toml(tmp_path, '[[folder]]\ninput = "ïn"\noutput = "out"\n')
    settings, folders = load_file(path)
    assert settings == {}
    assert folders == [
        {"input": tmp_path / "ïn", "output": tmp_path / "out", "where": f"{path} [[folder]] #1"}
    ]
    config = build(config_file=path)
    assert config == WatchConfig(folders=(FolderConfig(tmp_path / "ïn", tmp_path / "out"),))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bo-gus = 1\n", "{path}: unknown setting 'bo-gus'"),
        ("folders = 1\n", "{path}: unknown setting 'folders'"),
        ("source = 'x'\n", "{path}: unknown setting 'source'"),
        ("settle_ms = 1\n", "{path}: unknown setting 'settle_ms'"),
        ("quality = 1\n", "{path}: unknown setting 'quality'"),
        ("[defaults]\ninput = 'x'\n", "{path} [defaults]: unknown setting 'input'"),
        ("[defaults]\noutput = 'x'\n", "{path} [defaults]: unknown setting 'output'"),
        ("[defaults]\njobs = 1\n", "{path} [defaults]: unknown setting 'jobs'"),
        (
            "[[folder]]\ninput='i'\noutput='o'\njobs = 1\n",
            "{path} [[folder]] #1: unknown setting 'jobs'",
        ),
        ("jobs = true\n", "{path}: jobs must be a int, got True"),
        ("jobs = 1.5\n", "{path}: jobs must be a int, got 1.5"),
        ("polling = 1\n", "{path}: polling must be a bool, got 1"),
        ("settle = '1'\n", "{path}: settle must be a int or float, got '1'"),
        ("metrics_port = true\n", "{path}: metrics_port must be a str or int, got True"),
        ("scheduler = 1\n", "{path}: scheduler must be a str, got 1"),
        (
            "[defaults]\nquality = true\n",
            "{path} [defaults]: quality must be a int or float, got True",
        ),
        (
            "[defaults]\nquality_range = 4\n",
            "{path} [defaults]: quality_range must be a str or list, got 4",
        ),
        ("[defaults]\nno_flip = 'yes'\n", "{path} [defaults]: no_flip must be a bool, got 'yes'"),
        ("[defaults]\naction = 1\n", "{path} [defaults]: action must be a str, got 1"),
        ("defaults = 3\n", "{path}: [defaults] must be a table"),
        ("folder = 3\n", "{path}: folders are [[folder]] tables"),
        ("folder = [1]\n", "{path}: folders are [[folder]] tables"),
        ("[[folder]]\ninput = 'x'\n", "{path} [[folder]] #1: output is missing"),
        (
            "[[folder]]\ninput='i'\noutput='o'\n[[folder]]\noutput = 'x'\n",
            "{path} [[folder]] #2: input is missing",
        ),
        ("jobs = \n", "{path}: not valid TOML: Invalid value (at line 1, column 8)"),
        ("", "nothing to watch: give IN -o OUT, IN:OUT pairs, or --config FILE"),
    ],
)
def test_each_mistake_in_a_config_file_is_its_own_line(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _toml(tmp_path, text)
    assert _refused(build, config_file=path) == message.format(path=path)


def test_a_config_file_that_cannot_be_read_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    assert _refused(load_file, missing) == f"config file {missing} does not exist"
    assert _refused(load_file, tmp_path) == f"cannot read config file {tmp_path}: Is a directory"
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b"jobs = 1 # caf\xe9\n")
    assert _refused(load_file, latin) == (
        f"{latin}: not valid TOML: 'utf-8' codec can't decode byte 0xe9 in position 14: "
        "invalid continuation byte"
    )


def test_a_folder_setting_overrides_the_defaults_for_that_folder_only(tmp_path: Path) -> None:
    path = _toml(tmp_path, """
[defaults]
quality = 70
[[folder]]
input = "a"
output = "b"
quality = 50
[[folder]]
input = "c"
output = "d"
""")  # fmt: skip
    assert [f.quality for f in build(config_file=path).folders] == [50, 70]


# --- the command line ---


def test_command_line_settings_and_options_win_over_the_file(tmp_path: Path) -> None:
    path = _toml(tmp_path, "jobs = 3\nrescan = 5\n[defaults]\nquality = 70\n"
                 "[[folder]]\ninput = 'a'\noutput = 'b'\n")  # fmt: skip
    config = build(
        config_file=path,
        settings={"jobs": 2, "rescan": None, "settle": 300.9},
        options={"quality": 40, "method": None},
    )
    assert (config.jobs, config.rescan, config.settle_ms) == (2, 5, 300)
    assert (config.folders[0].quality, config.folders[0].method) == (40, 4)


def test_command_line_folders_and_where_their_errors_point() -> None:
    one = build(inputs=["in"], output=Path("out"))
    assert one == WatchConfig(folders=(FolderConfig(Path("in"), Path("out")),))
    assert one.source == "command line"
    pairs = build(inputs=["a:b", "c:d"])
    assert [(f.input, f.output) for f in pairs.folders] == [
        (Path("a"), Path("b")),
        (Path("c"), Path("d")),
    ]
    assert _refused(build, inputs=["in"], output="out", options={"action": "shrink"}) == (
        "in: action must be one of defend, compress, flip, got 'shrink'"
    )
    assert _refused(build, inputs=["x:y"], options={"on_success": "drop"}) == (
        "x:y: on_success must be one of move, delete, keep, got 'drop'"
    )


def test_command_line_folder_mistakes() -> None:
    assert _refused(build, inputs=["a", "b"], output=Path("o")) == (
        "-o OUT goes with exactly one input folder; use IN:OUT pairs for more"
    )
    assert _refused(build, inputs=[], output=Path("o")) == (
        "-o OUT goes with exactly one input folder; use IN:OUT pairs for more"
    )
    assert _refused(build) == "nothing to watch: give IN -o OUT, IN:OUT pairs, or --config FILE"
    assert _refused(build, inputs=["same"], output="same") == (
        "input and output are the same folder: " + str(Path("same").resolve())
    )


def test_a_storage_url_stays_text_and_a_local_name_a_path() -> None:
    assert location("s3://bucket/in") == "s3://bucket/in"
    assert location("memory://x") == "memory://x"
    assert location("gcs+x.y-z://b") == "gcs+x.y-z://b"
    assert location("in/s3://x") == Path("in/s3://x")
    assert location("1s://x") == Path("1s://x")
    assert location("folder") == Path("folder")
    config = build(inputs=["s3://bucket/in"], output="s3://bucket/out")
    assert (config.folders[0].input, config.folders[0].output) == (
        "s3://bucket/in",
        "s3://bucket/out",
    )


def test_in_out_pairs_split_at_the_last_colon() -> None:
    assert parse_pair("a:b") == (Path("a"), Path("b"))
    assert parse_pair("c:/in:out") == (Path("c:/in"), Path("out"))
    for text in ("a", ":b", "a:", ":"):
        assert _refused(parse_pair, text) == (
            f"{text!r} is not IN:OUT (give one IN with -o OUT, or IN:OUT pairs)"
        )


# --- one folder's settings ---


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"action": "shrink"}, "action must be one of defend, compress, flip, got 'shrink'"),
        ({"on_success": "drop"}, "on_success must be one of move, delete, keep, got 'drop'"),
        ({"backend": "magick"}, "backend must be one of pillow, cwebp, got 'magick'"),
        # A defend folder's defense names its own settings ("direction", as in the file).
        (
            {"direction": "up"},
            "direction must be one of horizontal, vertical, random (or none), got 'up'",
        ),
        (
            {"action": "flip", "direction": "up"},
            "direction must be one of horizontal, vertical, got 'up'",
        ),
        (
            {"action": "compress", "order": "x"},
            "order must be one of webp-flip, flip-webp, got 'x'",
        ),
        ({"action": "flip", "quality_range": "40-80"}, "quality_range applies to defend, not flip"),
        ({"action": "compress", "resize_pad": 0.1}, "resize_pad applies to defend, not compress"),
        ({"action": "flip", "seed": 1}, "seed applies to defend, not flip"),
        ({"format": "same"}, "format must be one of png, webp-lossless, got 'same'"),
        (
            {"action": "flip", "format": "webp-lossless"},
            "format must be one of same, png, got 'webp-lossless'",
        ),
        (
            {"action": "compress", "format": "png"},
            "format applies to defend and flip, not compress",
        ),
        ({"action": "compress", "quality": 100.5}, "quality must be between 0 and 100, got 100.5"),
        ({"action": "compress", "quality": -1}, "quality must be between 0 and 100, got -1"),
        ({"action": "compress", "method": 7}, "method must be between 0 and 6, got 7"),
        ({"action": "compress", "method": -1}, "method must be between 0 and 6, got -1"),
        ({"max_pixels": 0}, "max_pixels must be at least 1"),
        ({"max_bytes": 0}, "max_bytes must be at least 1"),
    ],
)
def test_each_refused_folder_setting_is_one_line_naming_the_folder(
    settings: dict[str, object], message: str
) -> None:
    assert _refused(check_folder, _folder(**settings), "in") == f"in: {message}"


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"action": "compress"},
        {"action": "flip"},
        {"on_success": "delete"},
        {"on_success": "keep"},
        {"backend": "cwebp", "action": "flip"},
        {"direction": "vertical", "order": "flip-webp", "seed": 1, "quality_range": "40-80"},
        {"format": "png"},
        {"format": "webp-lossless"},
        {"action": "flip", "format": "same"},
        {"action": "flip", "format": "png"},
        {"action": "compress", "quality": 0, "method": 0},
        {"action": "compress", "quality": 100, "method": 6},
        {"action": "flip", "quality": 0.5},
        {"max_pixels": 1, "max_bytes": 1},
    ],
)
def test_the_boundaries_and_every_choice_of_a_folder_are_taken(settings: dict[str, object]) -> None:
    check_folder(_folder(**settings), "in")


# --- several folders ---


def _distinct(tmp_path: Path, *pairs: tuple[str, str]) -> None:
    check_distinct([FolderConfig(tmp_path / i, tmp_path / o) for i, o in pairs])


@pytest.mark.parametrize(
    "pairs",
    [
        [("a", "b")],
        [("a", "a/out")],  # OUT inside IN: excluded from IN
        [("a", "x"), ("b", "y")],
        [("a", "a/out"), ("b", "b/out"), ("c", "x")],
        [("a", "x/a"), ("b", "x/b")],  # outputs side by side under one folder
    ],
)
def test_folders_that_do_not_overlap_are_taken(tmp_path: Path, pairs) -> None:  # type: ignore[no-untyped-def]
    _distinct(tmp_path, *pairs)


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ([("a", "a")], "input and output are the same folder: {t}/a"),
        ([("a/sub", "a")], "input {t}/a/sub is inside its output folder {t}/a"),
        ([("a", "x"), ("a", "y")], "{t}/a and {t}/a overlap: each folder is watched once"),
        ([("a", "x"), ("a/sub", "y")], "{t}/a and {t}/a/sub overlap: each folder is watched once"),
        ([("a/sub", "x"), ("a", "y")], "{t}/a/sub and {t}/a overlap: each folder is watched once"),
        ([("a", "b"), ("b", "c")], "{t}/b is both an input and an output folder"),
        ([("a", "b"), ("c", "a")], "{t}/a is both an input and an output folder"),
        ([("x", "y"), ("a", "b"), ("b", "c")], "{t}/b is both an input and an output folder"),
        ([("b", "c"), ("x", "y"), ("a", "b")], "{t}/b is both an input and an output folder"),
        (
            [("a", "x"), ("b", "a/sub")],
            "input {t}/a and the output {t}/a/sub of another folder overlap",
        ),
        (
            [("a/sub", "x"), ("b", "a")],
            "input {t}/a/sub and the output {t}/a of another folder overlap",
        ),
        (
            [("a", "x"), ("x/sub", "y")],
            "input {t}/x/sub and the output {t}/x of another folder overlap",
        ),
        (
            [("x/sub", "y"), ("a", "x")],
            "input {t}/x/sub and the output {t}/x of another folder overlap",
        ),
    ],
)
def test_folders_that_overlap_are_refused(tmp_path: Path, pairs, message: str) -> None:  # type: ignore[no-untyped-def]
    assert _refused(_distinct, tmp_path, *pairs) == message.format(t=tmp_path.resolve())


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ([("a", "a/out"), ("a", "c")], "{t}/a and {t}/a overlap: each folder is watched once"),
        (
            [("a", "a/out"), ("a/sub", "c")],
            "{t}/a and {t}/a/sub overlap: each folder is watched once",
        ),
        (
            [("a", "a/out"), ("a/out", "c")],
            "{t}/a and {t}/a/out overlap: each folder is watched once",
        ),
        ([("a", "a/out"), ("b", "a")], "{t}/a is both an input and an output folder"),
        ([("a", "a/out"), ("b", "b")], "input and output are the same folder: {t}/b"),
    ],
)
def test_an_output_inside_its_input_does_not_exempt_the_folder_from_the_other_checks(
    tmp_path: Path,
    pairs,
    message: str,  # type: ignore[no-untyped-def]
) -> None:
    """Found by these tests: the first folder's OUT inside its IN skipped its checks against
    the others, so the same IN could be watched twice, or another folder's OUT."""
    assert _refused(_distinct, tmp_path, *pairs) == message.format(t=tmp_path.resolve())


def test_a_storage_folder_is_watched_alone_and_not_into_itself() -> None:
    check_distinct([FolderConfig("s3://b/in", "s3://b/out")])  # type: ignore[arg-type]
    check_distinct([FolderConfig("s3://b/in", Path("/srv/out"))])  # type: ignore[arg-type]
    check_distinct([FolderConfig(Path("/srv/in"), "s3://b/out")])  # type: ignore[arg-type]
    # Only a trailing "/" is folded: names that end in other characters stay distinct.
    check_distinct([FolderConfig("s3://b/BOX", "s3://b/BO")])  # type: ignore[arg-type]
    check_distinct([FolderConfig("s3://b/BO", "s3://b/BOX")])  # type: ignore[arg-type]
    assert _refused(check_distinct, [FolderConfig("s3://b/in/", "s3://b/in")]) == (  # type: ignore[arg-type]
        "input and output are the same folder: s3://b/in/"
    )
    assert _refused(check_distinct, [FolderConfig("s3://b/in", "s3://b/in//")]) == (  # type: ignore[arg-type]
        "input and output are the same folder: s3://b/in"
    )
    two = [FolderConfig("s3://b/in", "s3://b/out"), FolderConfig(Path("/a"), Path("/b"))]  # type: ignore[arg-type]
    assert _refused(check_distinct, two) == (
        "an object-storage drop folder is watched alone: one IN -o OUT"
    )


# --- the daemon's settings ---


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"jobs": -1}, "jobs must be 0 (all cores) or more"),
        (
            {"settle_rule": "later"},
            "settings: settle_rule must be one of close, quiet, got 'later'",
        ),
        ({"settle_ms": -1}, "settle must be 0 ms or more"),
        ({"stop_timeout": -0.5}, "stop_timeout must be 0 s or more"),
        ({"queue_size": 0}, "queue_size must be at least 1"),
        ({"metrics_port": "bogus"}, "metrics port must be PORT or HOST:PORT, got 'bogus'"),
        ({"claim_timeout": 0}, "claim_timeout must be more than 0 seconds"),
        ({"claim_timeout": -1}, "claim_timeout must be more than 0 seconds"),
        ({"rescan": -0.5}, "rescan must be 0 (never) or more seconds"),
    ],
)
def test_each_refused_daemon_setting_is_one_line(settings: dict[str, object], message: str) -> None:
    config = WatchConfig(folders=(_folder(),), **settings)  # type: ignore[arg-type]
    assert _refused(check_global, config) == message


def test_the_daemons_boundaries_are_taken() -> None:
    check_global(WatchConfig(folders=(_folder(),)))
    check_global(
        WatchConfig(
            folders=(_folder(on_success="delete"),), jobs=0, settle_ms=0, settle_rule="quiet",
            stop_timeout=0, queue_size=1, rescan=0, claim_timeout=0.5, shared=True,
            metrics_port="9100",
        )
    )  # fmt: skip
    check_global(WatchConfig(folders=(_folder(),), stop_timeout=0.5, rescan=0.5, jobs=1))


def test_shared_refuses_a_folder_that_keeps_its_inputs() -> None:
    folders = (_folder(on_success="move"), FolderConfig(Path("k"), Path("o"), on_success="keep"))
    assert _refused(check_global, WatchConfig(folders=folders, shared=True)) == (
        "k: --shared takes each file out of IN; use --on-success move or delete"
    )
    check_global(WatchConfig(folders=folders, shared=False))
