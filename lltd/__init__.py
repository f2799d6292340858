"""lltd: low-level transformation defense against adversarial examples.

WebP compression and a flip before classification (Yin et al., 2020), as a library, a batch tool
(``lltd compress|flip|defend``), a drop-folder daemon (``lltd watch``) and an evaluation harness.
Importing ``lltd`` never imports torch; ``lltd.torch`` does.
"""

from __future__ import annotations

from lltd.transforms import Defend, Flip, WebPRoundTrip, defend, flip, webp_roundtrip

__version__ = "0.1.0"

__all__ = ["Defend", "Flip", "WebPRoundTrip", "__version__", "defend", "flip", "webp_roundtrip"]
