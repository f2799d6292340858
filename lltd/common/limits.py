"""Defaults that the command line needs before any image library is imported."""

#: Pillow's own decompression-bomb threshold; lltd enforces it itself so the error names the file.
DEFAULT_MAX_PIXELS = 89_478_485

#: The most bytes an input file may hold (``--max-bytes`` of compress, flip, defend and watch),
#: checked on its descriptor before a byte is read: the largest picture the pixel limit lets
#: through, stored as plainly as a format allows (16-bit RGBA, uncompressed TIFF), takes
#: 8 x 89,478,485 = 716 MB; 1 GiB leaves room for metadata and refuses none of them. What it
#: stops: a drop folder's uploader making lltd hash and copy a sparse terabyte.
DEFAULT_MAX_BYTES = 1 << 30

#: ``lltd serve``'s budgets (``--max-inflight-pixels``, ``--max-inflight-bytes``), derived in
#: docs/operations/serve-capacity.md from bench/serve/peak_rss.py's figures: the shipped unit's
#: MemoryMax=2G (one worker process), less 128 MiB for the process itself and 512 MiB for request
#: bodies (16 of the largest, 32 MiB), leaves 1,408 MiB for decoded pixels, which cost at most
#: 49.1 bytes each through the defense, the answer included (a lossless WebP answer; 24.8 for a
#: PNG one): 50 with a margin, so 29.5 million, rounded down.
BYTES_PER_PIXEL = 50
DEFAULT_INFLIGHT_PIXELS = 28_000_000
DEFAULT_INFLIGHT_BYTES = 512 * 1024 * 1024
