"""Output file names: ``Adv_<synset> <name>-<synset> <name>.png`` as the original code wrote them.

Made safe for any file system (no separators, control or reserved characters, bounded length)
and unique within a run, also on case-insensitive file systems.
"""

from __future__ import annotations

import re

PREFIX = "Adv_"
SUFFIX = ".png"
#: Leaves room for `` (NNN)`` and a temp-file prefix/suffix under the usual 255-byte limit.
MAX_NAME_BYTES = 200

# Path separators, NUL/control characters and what Windows refuses; the seed's names keep their
# spaces and apostrophes (``yellow lady's slipper``).
_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')


def safe_part(text: str) -> str:
    """``text`` with unsafe characters replaced by ``_`` and surrounding dots/spaces trimmed."""
    cleaned = " ".join(_UNSAFE.sub("_", text).split())
    return cleaned.strip(" .") or "_"


def _truncate(text: str, max_bytes: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", errors="ignore").rstrip(" .")


def adversarial_name(true_label: str, adversarial_label: str) -> str:
    """``Adv_<true>-<adversarial>.png``; each label is ``<synset> <name>`` or ``<index> <name>``."""
    true_part, adv_part = safe_part(true_label), safe_part(adversarial_label)
    budget = MAX_NAME_BYTES - len(PREFIX) - len(SUFFIX) - 1
    half = budget // 2
    if len((true_part + adv_part).encode()) > budget:
        true_part = _truncate(true_part, max(half, budget - len(adv_part.encode())))
        adv_part = _truncate(adv_part, budget - len(true_part.encode()))
    return f"{PREFIX}{true_part}-{adv_part}{SUFFIX}"


class UniqueNames:
    """Hands out each name once per run: later duplicates become ``<stem> (2).png`` and so on."""

    def __init__(self) -> None:
        self._taken: set[str] = set()

    def claim(self, name: str) -> str:
        stem, dot, suffix = name.rpartition(".")
        candidate, number = name, 1
        while candidate.casefold() in self._taken:
            number += 1
            candidate = f"{stem} ({number}){dot}{suffix}"
        self._taken.add(candidate.casefold())
        return candidate
