"""Exceptions that carry a one-line, user-facing message."""

from __future__ import annotations


class LltdError(Exception):
    """An error whose message is shown to the user as is, without a traceback."""


class UsageError(LltdError):
    """Bad options or option combinations (exit status 2)."""


class ImageError(LltdError):
    """One input file cannot be processed; the batch goes on."""


class CodecError(LltdError):
    """An encoder failed or cannot honour an option."""
