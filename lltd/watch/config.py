"""The daemon's configuration: a TOML file (many drop folders, each with its own settings), the
command line, or both (command-line options win)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lltd.common.errors import UsageError
from lltd.common.limits import DEFAULT_MAX_BYTES
from lltd.imaging.imageio import DEFAULT_MAX_PIXELS

if TYPE_CHECKING:
    from lltd.defense import DefenseSettings

ACTIONS = ("defend", "compress", "flip")
ON_SUCCESS = ("move", "delete", "keep")
#: When a written file is complete: at its first close after writing ("close"), or once nobody
#: has had it open and its size and mtime held still for the settle period ("quiet": uploaders
#: that reopen the file per chunk). A file renamed into place is complete under either rule.
SETTLE_RULES = ("close", "quiet")


@dataclass(frozen=True)
class FolderConfig:
    """One drop folder and what to do with what lands in it."""

    input: Path  # or a str: an fsspec URL (object storage, polled)
    output: Path
    action: str = "defend"
    on_success: str = "move"
    quality: float | None = None  # None: 60 for defend, 100 (lossless) for compress
    direction: str = "horizontal"
    no_flip: bool = False
    no_webp: bool = False
    order: str = "webp-flip"
    method: int = 4
    backend: str = "pillow"
    cwebp: str | None = None
    format: str | None = None  # None: png for defend, same for flip
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_bytes: int = DEFAULT_MAX_BYTES
    quality_range: str | tuple[int, ...] | None = None  # defend, randomised: "40-80" or [40, 80]
    resize_pad: float | None = None  # defend, randomised
    seed: int | None = None  # defend: reproducible draws

    def defense(self, where: str | None = None) -> DefenseSettings:
        """The defense value of a ``defend`` folder, the same one ``lltd defend`` builds."""
        from lltd.defense.settings import LABELS, DefenseSettings

        return DefenseSettings.from_options(
            names={**LABELS, "flip": "direction"},
            where=where,
            quality=self.quality,  # None: the defense's default (60), unless a band is given
            quality_range=self.quality_range,
            no_webp=self.no_webp,
            direction=self.direction,
            no_flip=self.no_flip,
            order=self.order,
            method=self.method,
            backend=self.backend,
            cwebp=self.cwebp,
            resize_pad=self.resize_pad,
            seed=self.seed,
        )


@dataclass(frozen=True)
class WatchConfig:
    folders: tuple[FolderConfig, ...]
    jobs: int = 0  # 0: all cores
    settle_ms: int = 1000
    settle_rule: str = "close"
    stop_timeout: float = 30.0
    queue_size: int = 256
    rescan: float = 60.0  # seconds between safety-net rescans; 0: never
    polling: bool = False
    status_file: Path | None = None
    fsync: bool = True
    worker_idle: float = 60.0  # seconds without work before the worker processes exit
    shared: bool = False  # several daemons on one folder, each file claimed by one of them
    claim_timeout: float = 30.0  # seconds of silence before a daemon's claims are taken over
    scheduler: str | None = None  # a Dask scheduler's address: the files run on its workers
    metrics_port: str | None = None  # "PORT" (on 127.0.0.1) or "HOST:PORT": Prometheus metrics
    quiet: bool = False
    source: str = field(default="command line", compare=False)


FOLDER_KEYS = {f.name for f in fields(FolderConfig)}
OPTION_KEYS = FOLDER_KEYS - {"input", "output"}
GLOBAL_KEYS = {f.name for f in fields(WatchConfig)} - {"folders", "source", "settle_ms"} | {
    "settle"
}
_TYPES: dict[str, tuple[type, ...]] = {
    "quality": (int, float),
    "quality_range": (str, list),
    "resize_pad": (int, float),
    "seed": (int,),
    "method": (int,),
    "max_pixels": (int,),
    "max_bytes": (int,),
    "jobs": (int,),
    "settle": (int, float),
    "stop_timeout": (int, float),
    "queue_size": (int,),
    "rescan": (int, float),
    "worker_idle": (int, float),
    "no_flip": (bool,),
    "no_webp": (bool,),
    "polling": (bool,),
    "shared": (bool,),
    "claim_timeout": (int, float),
    "metrics_port": (str, int),
    "fsync": (bool,),
    "quiet": (bool,),
}


def _normalise(table: dict[str, Any], where: str, allowed: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for raw_key, value in table.items():
        key = raw_key.replace("-", "_")
        if key not in allowed:
            raise UsageError(f"{where}: unknown setting {raw_key!r}")
        expected = _TYPES.get(key, (str,))
        # TOML booleans are ints to isinstance(); a number where a switch belongs is a mistake.
        if (isinstance(value, bool) and bool not in expected) or not isinstance(value, expected):
            names = " or ".join(t.__name__ for t in expected)
            raise UsageError(f"{where}: {raw_key} must be a {names}, got {value!r}")
        out[key] = tuple(value) if isinstance(value, list) else value  # frozen: hashable
    return out


def load_file(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Global settings and the list of folder settings (defaults merged in) from a TOML file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise UsageError(f"cannot read config file {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    defaults = data.pop("defaults", {})
    folders = data.pop("folder", [])
    if not isinstance(defaults, dict):
        raise UsageError(f"{path}: [defaults] must be a table")
    if not isinstance(folders, list) or not all(isinstance(f, dict) for f in folders):
        raise UsageError(f"{path}: folders are [[folder]] tables")
    settings = _normalise(data, str(path), GLOBAL_KEYS)
    base = _normalise(defaults, f"{path} [defaults]", OPTION_KEYS)
    here = path.parent
    merged: list[dict[str, Any]] = []
    for number, table in enumerate(folders, 1):
        where = f"{path} [[folder]] #{number}"
        entry = {**base, **_normalise(table, where, FOLDER_KEYS)}
        for key in ("input", "output"):
            if key not in entry:
                raise UsageError(f"{where}: {key} is missing")
            entry[key] = here / Path(entry[key]).expanduser()  # relative to the config file
        entry["where"] = where
        merged.append(entry)
    if "status_file" in settings:
        settings["status_file"] = here / Path(settings["status_file"]).expanduser()
    return settings, merged


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def location(text: str) -> Path | str:
    """A local folder, or an fsspec URL kept as text (``Path`` would fold its ``//``)."""
    return text if _URL.match(text) else Path(text)


def parse_pair(text: str) -> tuple[Path, Path]:
    inp, sep, out = text.rpartition(":")
    if not sep or not inp or not out:
        raise UsageError(f"{text!r} is not IN:OUT (give one IN with -o OUT, or IN:OUT pairs)")
    return Path(inp), Path(out)


def build(
    *,
    config_file: Path | None = None,
    inputs: list[str] | None = None,
    output: Path | str | None = None,
    settings: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
) -> WatchConfig:
    """Merge file and command line: built-in defaults < file < ``settings``/``options`` given
    on the command line (pass only the options the user gave)."""
    inputs = inputs or []
    global_settings: dict[str, Any] = {}
    folders: list[dict[str, Any]] = []
    source = "command line"
    if config_file is not None:
        global_settings, folders = load_file(config_file)
        source = str(config_file)
    if output is not None:
        if len(inputs) != 1:
            raise UsageError("-o OUT goes with exactly one input folder; use IN:OUT pairs for more")
        pair = (location(inputs[0]), location(str(output)))
        folders.append({"input": pair[0], "output": pair[1], "where": inputs[0]})
    else:
        for text in inputs:
            inp, out = parse_pair(text)
            folders.append({"input": inp, "output": out, "where": text})
    if not folders:
        raise UsageError("nothing to watch: give IN -o OUT, IN:OUT pairs, or --config FILE")
    global_settings.update({k: v for k, v in (settings or {}).items() if v is not None})
    overrides = {k: v for k, v in (options or {}).items() if v is not None}
    built = []
    for entry in folders:
        where = entry.pop("where")
        entry.update(overrides)
        folder = FolderConfig(**entry)
        check_folder(folder, where)
        built.append(folder)
    check_distinct(built)
    if "settle" in global_settings:
        global_settings["settle_ms"] = int(global_settings.pop("settle"))
    config = WatchConfig(folders=tuple(built), source=source, **global_settings)
    check_global(config)
    return config


def _choice(where: str, name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UsageError(f"{where}: {name} must be one of {', '.join(choices)}, got {value!r}")


def check_folder(folder: FolderConfig, where: str) -> None:
    from lltd.codecs import BACKENDS
    from lltd.defense.settings import DIRECTIONS, ORDERS
    from lltd.jobs.settings import DEFEND_FORMATS, FLIP_FORMATS

    _choice(where, "action", folder.action, ACTIONS)
    _choice(where, "on_success", folder.on_success, ON_SUCCESS)
    _choice(where, "backend", folder.backend, BACKENDS)
    if folder.action == "defend":
        folder.defense(where)  # the defense value validates its own settings
    else:
        _choice(where, "direction", folder.direction, DIRECTIONS)
        _choice(where, "order", folder.order, ORDERS)
        for name in ("quality_range", "resize_pad", "seed"):
            if getattr(folder, name) is not None:
                raise UsageError(f"{where}: {name} applies to defend, not {folder.action}")
    if folder.format is not None:
        formats = DEFEND_FORMATS if folder.action == "defend" else FLIP_FORMATS
        if folder.action == "compress":
            raise UsageError(f"{where}: format applies to defend and flip, not compress")
        _choice(where, "format", folder.format, formats)
    if folder.quality is not None and not 0 <= folder.quality <= 100:
        raise UsageError(f"{where}: quality must be between 0 and 100, got {folder.quality:g}")
    if not 0 <= folder.method <= 6:
        raise UsageError(f"{where}: method must be between 0 and 6, got {folder.method}")
    if folder.max_pixels < 1:
        raise UsageError(f"{where}: max_pixels must be at least 1")
    if folder.max_bytes < 1:
        raise UsageError(f"{where}: max_bytes must be at least 1")


def check_distinct(folders: list[FolderConfig]) -> None:
    """No folder may be watched twice, nor be another folder's output (or inside it)."""
    if any(isinstance(f.input, str) or isinstance(f.output, str) for f in folders):
        if len(folders) != 1:
            raise UsageError("an object-storage drop folder is watched alone: one IN -o OUT")
        if str(folders[0].input).rstrip("/") == str(folders[0].output).rstrip("/"):
            raise UsageError(f"input and output are the same folder: {folders[0].input}")
        return
    resolved = [(f.input.resolve(), f.output.resolve()) for f in folders]
    for index, (inp, out) in enumerate(resolved):
        if inp == out:
            raise UsageError(f"input and output are the same folder: {inp}")
        # OUT inside IN is allowed (it is excluded from IN); IN inside OUT is not.
        if out in inp.parents:
            raise UsageError(f"input {inp} is inside its output folder {out}")
        for other_in, other_out in resolved[index + 1 :]:
            if _overlap(inp, other_in):
                raise UsageError(f"{inp} and {other_in} overlap: each folder is watched once")
            # Only a folder's own OUT is excluded from its IN: another folder's output in or
            # above an input would be taken there as new uploads.
            for reader, writer in ((inp, other_out), (other_in, out)):
                if reader == writer:
                    raise UsageError(f"{reader} is both an input and an output folder")
                if _overlap(reader, writer):
                    raise UsageError(
                        f"input {reader} and the output {writer} of another folder overlap"
                    )


def _overlap(a: Path, b: Path) -> bool:
    """The same folder, or one inside the other."""
    from lltd.batch.scan import is_within

    return is_within(a, b) or is_within(b, a)


def check_global(config: WatchConfig) -> None:
    if config.jobs < 0:
        raise UsageError("jobs must be 0 (all cores) or more")
    _choice("settings", "settle_rule", config.settle_rule, SETTLE_RULES)
    if config.settle_ms < 0:
        raise UsageError("settle must be 0 ms or more")
    if config.stop_timeout < 0:
        raise UsageError("stop_timeout must be 0 s or more")
    if config.queue_size < 1:
        raise UsageError("queue_size must be at least 1")
    if config.metrics_port is not None:
        from lltd.watch.metrics import parse_address

        parse_address(str(config.metrics_port))
    if config.claim_timeout <= 0:
        raise UsageError("claim_timeout must be more than 0 seconds")
    if config.shared:
        for folder in config.folders:
            if folder.on_success == "keep":
                raise UsageError(
                    f"{folder.input}: --shared takes each file out of IN; use --on-success "
                    "move or delete"
                )
    if config.rescan < 0:
        raise UsageError("rescan must be 0 (never) or more seconds")
