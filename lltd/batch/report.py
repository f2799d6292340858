"""Report a batch: progress bar, a line per failure, webp-converter's summary, --json, exit code."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from lltd.batch.outcome import FileResult, Outcome, Totals
from lltd.common.text import one_line, printable
from lltd.fs.atomic import write_bytes_atomic

EXIT_OK, EXIT_SOME_FAILED = 0, 1

RULE = "-----------------------------------------------"
ALREADY_DONE_WORD = "already_done"  # flip's and defend's word for Outcome.ALREADY_DONE


def human_bytes(count: float) -> str:
    """Sizes as webp-converter printed them (1024-based)."""
    sign, count = ("-" if count < 0 else ""), abs(float(count))
    for unit in ("Bytes", "KB", "MB", "GB"):
        if count < 1024:
            return f"{sign}{count:.0f} {unit}" if unit == "Bytes" else f"{sign}{count:.2f} {unit}"
        count /= 1024
    return f"{sign}{count:.2f} TB"


def failure_line(result: FileResult) -> str:
    return f"lltd: failed: {printable(result.input)}: {one_line(result.error or 'failed')}"


def stopped_line(results: list[FileResult], total: int) -> str | None:
    """One line when the batch stopped early (a full disk); None when it ran to the end."""
    for result in results:
        if result.stop:
            return (
                f"lltd: error: {one_line(result.error)} (writing the output of "
                f"{printable(result.input)}); stopped after {len(results)} of {total} files, "
                "no partial file left"
            )
    return None


@contextmanager
def progress_reporter(
    total: int, label: str, *, quiet: bool, debug: bool, stream: TextIO | None = None
) -> Iterator[Callable[[FileResult], None]]:
    """A callback for each result: prints failures (and, with debug, every file) and advances a
    progress bar when ``stream`` is a terminal and not ``quiet``; elsewhere (a log) a plain
    progress line every 10 s (:mod:`lltd.common.progress`)."""
    stream = stream or sys.stderr
    show_bar = not quiet and total > 0 and stream.isatty()
    bar = None
    ticker = None
    if not quiet and total > 0 and not show_bar:
        from lltd.common.progress import Ticker

        ticker = Ticker(total, f"lltd: {label}", lambda line: print(line, file=stream, flush=True))
    last_refresh = [0.0]
    if show_bar:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(file=stream),
            transient=True,
            # No refresh thread: worker processes are forked while the bar is live.
            auto_refresh=False,
        )
        bar.start()
        task_id = bar.add_task(label, total=total)

    def on_result(result: FileResult) -> None:
        if result.stop:
            pass  # reported once, by stopped_line, when the batch ends
        elif result.outcome is Outcome.FAILED:
            line = failure_line(result)
            if bar is not None:
                bar.console.print(line, markup=False, highlight=False)
            else:
                print(line, file=stream, flush=True)
        elif debug:
            where = f"{printable(result.input)} -> {printable(result.output or '')}"
            print(f"lltd: {result.outcome.value}: {where}", file=stream)
        if ticker is not None:
            ticker.advance()
        if bar is not None:
            bar.advance(task_id)
            now = time.monotonic()
            if now - last_refresh[0] > 0.1:  # rendering costs ~1 ms; don't pay it per file
                bar.refresh()
                last_refresh[0] = now

    try:
        yield on_result
    finally:
        if bar is not None:
            bar.stop()


def compress_summary(totals: Totals, *, output: Path, replaced_in: Path | None) -> str:
    """The closing block in webp-converter's words."""
    counts = totals.counts
    head = (
        f"Replace {counts[Outcome.CONVERTED]} image files on {replaced_in}"
        if replaced_in is not None
        else f"All files handled on: {output}"
    )
    lines = [
        RULE,
        head,
        f"Consume: {totals.seconds:.3f}s",
        "",
        f"Scan files count: {totals.scanned}",
        f"Converted files count: {counts[Outcome.CONVERTED]}",
        f"Already converted files count: {counts[Outcome.ALREADY_DONE]}",
        f"Reduce size: {human_bytes(totals.saved_bytes)}",
        f"Skip files(because convert failed) count: {counts[Outcome.FAILED]}",
        "Skip files(because the webp one is greater than origin one) count: "
        f"{counts[Outcome.LARGER]}",
    ]
    if counts[Outcome.TRANSPARENCY]:
        lines.append(
            f"Skip files(because there is transparency) count: {counts[Outcome.TRANSPARENCY]}"
        )
    if counts[Outcome.NAME_MATCH]:
        lines.append(
            f"Skip files(because the filename matched) count: {counts[Outcome.NAME_MATCH]}"
        )
    lines.append(RULE)
    return "\n".join(lines)


def batch_summary(totals: Totals, *, verb: str, output: Path | None) -> str:
    """The closing block of flip and defend."""
    counts = totals.counts
    lines = [
        RULE,
        f"{verb.capitalize()}: {counts[Outcome.CONVERTED]} written, "
        f"{counts[Outcome.ALREADY_DONE]} already done, {counts[Outcome.FAILED]} failed "
        f"of {totals.scanned} files in {totals.seconds:.3f}s",
    ]
    if output is not None:
        lines.append(f"Output: {output}")
    lines.append(RULE)
    return "\n".join(lines)


def write_json_report(
    path: Path,
    command: str,
    results: list[FileResult],
    totals: Totals,
    inputs: dict[str, dict[str, object]] | None = None,
    *,
    input: str | None = None,
    output: str | None = None,
    settings: dict[str, object] | None = None,
    **extra: object,
) -> None:
    """The ``lltd.report/1`` report; each file's record gets its input's and output's SHA-256,
    pixel size and real byte count (``inputs``: facts taken before the run, for originals a run
    deletes), and the totals count the bytes over the same records."""
    from lltd.batch.provenance import add_file_facts
    from lltd.common.report import envelope

    files = add_file_facts([result.to_json() for result in results], inputs or {})
    total = totals.to_json()
    del total["scanned"]  # "files", first, as in every report
    total = {"files": len(files), **total}
    total["bytes_before"] = sum(int(record["bytes_before"] or 0) for record in files)  # type: ignore[call-overload]
    total["bytes_after"] = sum(int(record["bytes_after"] or 0) for record in files)  # type: ignore[call-overload]
    if command != "compress":  # webp-converter's words are compress's; say what the summary says
        for record in [*files, total]:
            _in_batch_words(record)
    report = envelope(
        command,
        input=input,
        output=output,
        settings=settings or {},
        files=files,
        totals=total,
        **extra,
    )
    write_bytes_atomic(path, (json.dumps(report, indent=2, default=str) + "\n").encode())


def _in_batch_words(record: dict[str, object]) -> None:
    """flip and defend: "already_done" as their summary says, and no compress "saved_bytes" (a PNG
    output is usually larger than its input: the figure would be negative and meaningless)."""
    record.pop("saved_bytes", None)
    if record.get("outcome") == Outcome.ALREADY_DONE.value:
        record["outcome"] = ALREADY_DONE_WORD
    if Outcome.ALREADY_DONE.value in record and "outcome" not in record:
        record[ALREADY_DONE_WORD] = record.pop(Outcome.ALREADY_DONE.value)


def exit_code(totals: Totals) -> int:
    return EXIT_SOME_FAILED if totals.failed else EXIT_OK
