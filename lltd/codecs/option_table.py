"""Generate the cwebp option table from :data:`lltd.codecs.cwebp_options.OPTIONS` (the list
tests/test_cwebp_options.py walks against the installed ``cwebp -longhelp``).

The docs site renders it into the cwebp reference at build time (docs/hooks/cli_reference.py).
"""

from __future__ import annotations

from lltd.codecs.cwebp_options import HONOURED, NO_EFFECT, OPTIONS, REFUSED

_WORDS = {HONOURED: "yes", NO_EFFECT: "accepted, no effect", REFUSED: "refused"}


_IN_COMPRESS = {
    "-q": "yes; 100 means lossless (webp-converter's rule)",
    "-h": "compress's own help",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    rows = [
        "| option | meaning (cwebp 1.2.4) | `--backend cwebp` | `--backend pillow` "
        "| in `compress` |",
        "| --- | --- | --- | --- | --- |",
    ]
    for spec in OPTIONS:
        name = " / ".join(f"`{n}`" for n in spec.names)
        args = " ".join(f"<{a}>" for a in spec.args)
        option = f"{name} `{args}`" if args else name
        pillow = _WORDS[spec.pillow] + (f": {spec.note}" if spec.note else "")
        batch = _IN_COMPRESS.get(spec.name, "yes" if spec.batch else "refused (lltd cwebp only)")
        rows.append(f"| {option} | {_cell(spec.meaning)} | yes | {_cell(pillow)} | {batch} |")
    return "\n".join(rows) + "\n"
