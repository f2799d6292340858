"""Scale-out: batch runs on a Dask cluster, over local paths or fsspec storage URLs.

Importing this package imports neither dask nor fsspec; they load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lltd.cluster.storage import Storage, is_url

if TYPE_CHECKING:
    from lltd.cluster.runner import DaskRunner


def dask_runner(scheduler: str, jobs: int = 0, *, batch: int | None = None) -> DaskRunner:
    """A Runner on the Dask scheduler at ``scheduler`` (``"local"``: a new LocalCluster)."""
    from lltd.cluster.runner import dask_runner as connect

    return connect(scheduler, jobs, batch=batch)


__all__ = ["Storage", "dask_runner", "is_url"]
