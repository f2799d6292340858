"""One file's result and a batch's totals (lltd.batch.outcome): what a result made with only its
input, output and outcome says, what its JSON record holds, and totals that start at zero."""

from __future__ import annotations

from lltd.batch.outcome import FileResult, Outcome, Totals


def test_a_bare_result_has_no_bytes_no_error_and_does_not_stop_the_batch() -> None:
    result = FileResult("in.png", None, Outcome.FAILED)
    assert (result.bytes_before, result.bytes_after, result.error) == (0, 0, None)
    assert result.stop is False


def test_a_results_json_record_is_its_fields_without_stop_and_the_outcome_by_name() -> None:
    record = FileResult("in.png", "out.webp", Outcome.CONVERTED, 100, 40).to_json()
    assert record == {
        "input": "in.png", "output": "out.webp", "outcome": "converted",
        "bytes_before": 100, "bytes_after": 40, "error": None,
    }  # fmt: skip


def test_saved_bytes_count_only_outputs_kept() -> None:
    assert FileResult("a", "b", Outcome.CONVERTED, 100, 40).saved_bytes == 60
    assert FileResult("a", "b", Outcome.ALREADY_DONE, 100, 40).saved_bytes == 60
    assert FileResult("a", None, Outcome.LARGER, 100, 140).saved_bytes == 0


def test_totals_start_at_zero() -> None:
    totals = Totals()
    assert (totals.scanned, totals.bytes_before, totals.bytes_after) == (0, 0, 0)
    assert (totals.saved_bytes, totals.seconds, sum(totals.counts.values())) == (0, 0.0, 0)
    assert isinstance(totals.seconds, float)


def test_totals_of_results_add_up_and_count_each_outcome() -> None:
    results = [
        FileResult("a", "a.webp", Outcome.CONVERTED, 100, 40),
        FileResult("b", None, Outcome.LARGER, 50, 0),
        FileResult("c", None, Outcome.FAILED, 7, 0, error="bad"),
    ]
    totals = Totals.of(results, seconds=2.5)
    assert (totals.scanned, totals.seconds) == (3, 2.5)
    assert (totals.bytes_before, totals.bytes_after, totals.saved_bytes) == (157, 40, 60)
    assert totals.counts == {Outcome.CONVERTED: 1, Outcome.LARGER: 1, Outcome.FAILED: 1}
