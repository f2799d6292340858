"""`lltd watch` (see its issue); registered on import."""

from __future__ import annotations
