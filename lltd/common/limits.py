"""Defaults that the command line needs before any image library is imported."""

#: Pillow's own decompression-bomb threshold; lltd enforces it itself so the error names the file.
DEFAULT_MAX_PIXELS = 89_478_485
