"""The batch report's numbers against known values: webp-converter's "Reduce size" (1024-based,
bytes whole, larger units to two decimals, at each unit's boundary) and the totals it sums (only
kept outputs save bytes)."""

from __future__ import annotations

import pytest

from lltd.batch.outcome import FileResult, Outcome, Totals
from lltd.batch.report import human_bytes


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (0, "0 Bytes"),
        (1, "1 Bytes"),
        (1023, "1023 Bytes"),
        (1024, "1.00 KB"),
        (1536, "1.50 KB"),
        (1024**2 - 1, "1024.00 KB"),  # 1023.999 KB, rounded as webp-converter rounds it
        (1024**2, "1.00 MB"),
        (5 * 1024**3 // 2, "2.50 GB"),
        (1024**4, "1.00 TB"),
        (3 * 1024**5, "3072.00 TB"),
        (-1536, "-1.50 KB"),  # WebPs larger in total (kept by --r of lossless inputs)
        (-5, "-5 Bytes"),
    ],
)
def test_sizes_are_shown_1024_based_with_two_decimals_above_bytes(count: int, shown: str) -> None:
    assert human_bytes(count) == shown


def test_only_kept_outputs_save_bytes_and_the_totals_add_up() -> None:
    results = [
        FileResult("a.png", "a.webp", Outcome.CONVERTED, 1000, 400),
        FileResult("b.png", "b.webp", Outcome.ALREADY_DONE, 500, 450),
        FileResult("c.png", None, Outcome.LARGER, 300, 310),
        FileResult("d.png", None, Outcome.FAILED, 200, 0, error="bad"),
        FileResult("e.png", None, Outcome.TRANSPARENCY, 100, 0),
        FileResult("f.png", None, Outcome.NAME_MATCH, 50, 0),
    ]
    assert [r.saved_bytes for r in results] == [600, 50, 0, 0, 0, 0]
    totals = Totals.of(results, 1.23456)
    assert totals.to_json() == {
        "scanned": 6, "converted": 1, "already_converted": 1, "larger": 1, "transparency": 1,
        "name_match": 1, "failed": 1, "bytes_before": 2150, "bytes_after": 1160,
        "saved_bytes": 650, "seconds": 1.235,
    }  # fmt: skip
    assert totals.failed == 1
    assert FileResult("x", "y", Outcome.CONVERTED, 10, 0, stop=True).to_json() == {
        "input": "x", "output": "y", "outcome": "converted", "bytes_before": 10,
        "bytes_after": 0, "error": None,
    }  # fmt: skip
