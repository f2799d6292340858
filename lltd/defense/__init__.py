"""The defense: one value (:class:`DefenseSettings`, light) and one kernel (:mod:`.kernel`, which
imports Pillow and, for arrays, NumPy); the front end is :func:`lltd.transforms.defend`."""

from __future__ import annotations

from lltd.defense.settings import (
    CLI_NAMES,
    DIRECTIONS,
    FLIPS,
    ORDERS,
    DefenseSettings,
    DefenseSettingsError,
    Draw,
    parse_quality_range,
)

__all__ = [
    "CLI_NAMES",
    "DIRECTIONS",
    "FLIPS",
    "ORDERS",
    "DefenseSettings",
    "DefenseSettingsError",
    "Draw",
    "parse_quality_range",
]
