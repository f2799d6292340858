"""Whether an image has transparency: compress's ``--ignore-transparency-image`` sets such images
aside, and :func:`lltd.imaging.imageio.to_8bit_rgb` keeps their alpha channel.

Its own module so mutation testing can mutate it alone (mutmut mutates whole files).
"""

from __future__ import annotations

from PIL import Image

# Modes with an alpha channel (the lower-case ones premultiplied).
_ALPHA_MODES = ("RGBA", "LA", "PA", "La", "RGBa")


def has_transparency(image: Image.Image) -> bool:
    """True when any pixel has alpha < 255 (a fully opaque RGBA image is not transparent).

    A palette image's transparent entries, or an RGB or L image's tRNS key colour, count only
    when some pixel uses them.
    """
    if image.mode in _ALPHA_MODES:
        # The last band; premultiplied modes call it "a", and getchannel("A") raised on them.
        alpha = image.getchannel(image.getbands()[-1])
    elif image.mode in ("P", "RGB", "L") and "transparency" in image.info:
        alpha = image.convert("RGBA").getchannel("A")
    else:
        return False
    return alpha.getextrema()[0] < 255
