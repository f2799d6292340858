"""What happened to one file, and the totals of a batch."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from enum import StrEnum


class Outcome(StrEnum):
    CONVERTED = "converted"  # an output was written
    ALREADY_DONE = "already_converted"  # a complete output from an earlier run was reused
    LARGER = "larger"  # compress: the WebP was not smaller; the original went to origin/
    TRANSPARENCY = "transparency"  # compress --ignore-transparency-image: copied to transparency/
    NAME_MATCH = "name_match"  # skipped by --ignore-filename-match
    FAILED = "failed"  # bad input or encoder failure; the reason is in ``error``


@dataclass
class FileResult:
    input: str
    output: str | None
    outcome: Outcome
    bytes_before: int = 0
    bytes_after: int = 0
    error: str | None = None
    #: The batch cannot go on (the disk is full): the runner stops handing out work.
    stop: bool = field(default=False, repr=False)

    @property
    def saved_bytes(self) -> int:
        """Bytes saved by the output (webp-converter's "reduce size"); 0 when nothing was kept."""
        if self.outcome in (Outcome.CONVERTED, Outcome.ALREADY_DONE):
            return self.bytes_before - self.bytes_after
        return 0

    def to_json(self) -> dict[str, object]:
        record = asdict(self)
        del record["stop"]
        record["outcome"] = self.outcome.value
        return record


@dataclass
class Totals:
    scanned: int = 0
    counts: Counter[Outcome] = field(default_factory=Counter)
    bytes_before: int = 0
    bytes_after: int = 0
    saved_bytes: int = 0
    seconds: float = 0.0

    @classmethod
    def of(cls, results: list[FileResult], seconds: float) -> Totals:
        totals = cls(scanned=len(results), seconds=seconds)
        for result in results:
            totals.counts[result.outcome] += 1
            totals.bytes_before += result.bytes_before
            totals.bytes_after += result.bytes_after
            totals.saved_bytes += result.saved_bytes
        return totals

    @property
    def failed(self) -> int:
        return self.counts[Outcome.FAILED]

    def to_json(self) -> dict[str, object]:
        return {
            "scanned": self.scanned,
            **{outcome.value: self.counts[outcome] for outcome in Outcome},
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
            "saved_bytes": self.saved_bytes,
            "seconds": round(self.seconds, 3),
        }
