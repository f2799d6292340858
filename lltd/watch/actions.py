"""The batch job a drop folder runs on each file: the same jobs as ``lltd defend``, ``compress``
and ``flip``, built by the same settings functions, so defaults and rules live in one place."""

from __future__ import annotations

from pathlib import Path

from lltd.batch.plan import PlannedJob
from lltd.common.errors import UsageError
from lltd.watch.config import FolderConfig


def make_job(folder: FolderConfig, output: Path) -> PlannedJob:
    """The job for ``folder`` writing under ``output``; what it takes and what its outputs are
    called, the planner asks it (:class:`lltd.batch.plan.Planner`).

    Jobs run with ``force``: a file dropped again under an earlier name is new work, and a file
    redone after a crash gets an identical output.
    """
    from lltd.jobs import settings

    if folder.action == "defend":
        defense = folder.defense(str(folder.input))  # names its own errors
    try:
        if folder.action == "defend":
            job = settings.defend_job(
                output,
                defense,
                format=folder.format,
                force=True,
                max_pixels=folder.max_pixels,
                max_bytes=folder.max_bytes,
            )
        elif folder.action == "flip":
            job = settings.flip_job(
                output,
                direction=folder.direction,
                format=folder.format,
                force=True,
                max_pixels=folder.max_pixels,
                max_bytes=folder.max_bytes,
            )
        else:
            options = settings.compress_options(folder.quality, method=folder.method)
            job = settings.compress_job(
                output,
                options,
                backend=folder.backend,
                cwebp=folder.cwebp,
                max_pixels=folder.max_pixels,
                max_bytes=folder.max_bytes,
                force=True,
            )
    except UsageError as exc:
        raise UsageError(f"{folder.input}: {exc}") from None
    return job
