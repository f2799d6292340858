"""lltd: low-level transformation defense against adversarial examples.

WebP compression and a flip before classification (Yin et al., 2020), as a library, a batch tool
(``lltd compress|flip|defend``), a drop-folder daemon (``lltd watch``) and an evaluation harness.
Importing ``lltd`` imports neither torch nor, until an image function is used, Pillow;
``lltd.torch`` holds the tensor transform.
"""

from __future__ import annotations

# Not typing.TYPE_CHECKING: importing typing costs ``lltd cwebp`` a few ms per file.
TYPE_CHECKING = False
__all__ = [
    "Defend",
    "DefenseSettings",
    "Flip",
    "WebPRoundTrip",
    "__version__",
    "defend",
    "flip",
    "webp_roundtrip",
]

if TYPE_CHECKING:
    from lltd.defense.settings import DefenseSettings
    from lltd.transforms import Defend, Flip, WebPRoundTrip, defend, flip, webp_roundtrip


def __getattr__(name: str) -> object:
    # Lazy: the command line imports lltd.* modules and must not pay for Pillow at start-up.
    if name == "__version__":  # from the package metadata, one source: pyproject.toml
        from lltd.common.version import version

        return version()
    if name == "DefenseSettings":
        from lltd.defense.settings import DefenseSettings

        return DefenseSettings
    if name in __all__:
        from lltd import transforms

        return getattr(transforms, name)
    raise AttributeError(f"module 'lltd' has no attribute {name!r}")
