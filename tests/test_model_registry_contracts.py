"""lltd.models.registry: the names ``--model`` takes and what each loads. The reference CNN
trained once into ``$LLTD_CACHE_DIR`` and announced in one line; EfficientNet-Lite0 at 224 with
``(x - 0.5) / 0.5`` and channels-last weights on the CPU; a ``package.module:function`` factory
whose own ``input_size``, ``mean``, ``std`` and ``categories`` win; ``--device`` resolved or
refused in one line; ``--synsets`` of the wrong length refused word for word (or ignored when not
strict); the weights' label; ``predict`` without autograd. (Not ``test_registry_contracts.py``:
that one pins the codecs' registry.)"""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Callable
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from torch import nn  # noqa: E402

from lltd.common.errors import UsageError  # noqa: E402
from lltd.evaluate import reference  # noqa: E402
from lltd.models import (  # noqa: E402
    EFFICIENTNET_LITE0,
    IMAGENET_MEAN,
    IMAGENET_STD,
    REFERENCE_MODEL,
    ClassNames,
    ModelEntry,
    known_models,
    load_pixel_classifier,
    model_entry,
    registry,
    resolve_device,
)

pytestmark = pytest.mark.torch

OWN_MEAN = (0.25, 0.5, 0.75)
OWN_STD = (0.125, 0.25, 0.5)
OWN_NAMES = ("cat", "dog", "eel")


class ThreeWay(nn.Module):
    """Three outputs, no Linear layer (so the registry counts them by running the network); each
    output is the mean of one input channel, and every call records whether autograd was on."""

    def __init__(self) -> None:
        super().__init__()
        self.mix = nn.Conv2d(3, 3, 1, bias=False)
        with torch.no_grad():
            self.mix.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
        self.grad_enabled: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.grad_enabled.append(torch.is_grad_enabled())
        return self.mix(x).mean(dim=(2, 3))


def own_everything() -> nn.Module:
    """A factory whose network says its input side, normalisation and class names."""
    model = ThreeWay()
    model.input_size = 32  # type: ignore[assignment]
    model.mean = OWN_MEAN  # type: ignore[assignment]
    model.std = OWN_STD  # type: ignore[assignment]
    model.categories = OWN_NAMES  # type: ignore[assignment]
    return model


def says_nothing() -> nn.Module:
    return ThreeWay()


def wrong_names() -> nn.Module:
    model = ThreeWay()
    model.categories = ("cat", "dog")  # type: ignore[assignment]
    return model


def spec(factory: Callable[[], nn.Module]) -> str:
    return f"{__name__}:{factory.__name__}"


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.clone() for key, value in model.state_dict().items()}


def same_weights(model: nn.Module, state: dict[str, torch.Tensor]) -> bool:
    own = model.state_dict()
    return own.keys() == state.keys() and all(torch.equal(own[k], state[k]) for k in state)


@pytest.fixture
def no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """This test's machine has no CUDA, whatever the real one has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


# -- the names and the entries -------------------------------------------------------------------


def test_the_two_own_names_come_first_then_torchvisions_models() -> None:
    assert (REFERENCE_MODEL, EFFICIENTNET_LITE0) == ("reference", "efficientnet-lite0")
    assert list(registry.ENTRIES) == ["reference", "efficientnet-lite0"]
    listed = torchvision.models.list_models(module=torchvision.models)
    assert known_models() == ["reference", "efficientnet-lite0", *listed]
    assert "resnet18" in listed


def test_each_own_name_resolves_to_its_entry_and_says_so() -> None:
    assert model_entry("reference").name == "reference"
    assert model_entry("efficientnet-lite0").name == "efficientnet-lite0"
    assert model_entry("reference") is registry.ENTRIES["reference"]


def test_the_reference_entry_is_64_pixels_imagenet_normalised_and_nchw() -> None:
    entry = model_entry("reference")
    assert entry.size == reference.INPUT_SIZE == 64
    assert (entry.mean, entry.std) == (IMAGENET_MEAN, IMAGENET_STD)
    assert entry.channels_last is False
    assert registry.REFERENCE_MODULE == reference.__name__ == "lltd.evaluate.reference"


def test_the_efficientnet_entry_is_224_pixels_half_normalised_and_channels_last() -> None:
    entry = model_entry("efficientnet-lite0")
    assert entry.size == 224
    assert (entry.mean, entry.std) == ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    assert entry.channels_last is True


def test_a_new_entry_defaults_to_imagenet_normalisation_no_names_and_nchw() -> None:
    def load(weights: registry.Weights, device: str, progress: registry.Progress) -> nn.Module:
        return ThreeWay()

    entry = ModelEntry("mine", load, 32)
    assert (entry.mean, entry.std) == (IMAGENET_MEAN, IMAGENET_STD)
    assert entry.classes is None
    assert entry.channels_last is False


def test_entries_cannot_be_changed_by_their_users() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        model_entry("reference").size = 65  # type: ignore[misc]
    assert model_entry("reference").size == 64


def test_the_type_hints_resolve_to_the_types_the_signatures_name() -> None:
    """``typing.get_type_hints`` (what typer, pydantic and doc tools read) on the public API."""
    weights = str | os.PathLike[str] | None
    progress = Callable[[str], None]
    entry = typing.get_type_hints(ModelEntry)
    assert entry["load"] == Callable[[weights, str, progress], nn.Module]
    assert entry["classes"] == Callable[[nn.Module, int], ClassNames] | None
    hints = typing.get_type_hints(load_pixel_classifier)
    assert hints["weights"] == weights
    assert hints["progress"] == progress | None


# -- the reference model: trained once into the cache --------------------------------------------


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Path, object]]:
    """``$LLTD_CACHE_DIR`` two levels below tmp_path, not made yet. Training (minutes) is replaced
    by saving seeded untrained weights where asked: what is pinned is the registry's use of it.
    Returns the calls to ``train`` (path, progress)."""
    monkeypatch.setenv("LLTD_CACHE_DIR", str(tmp_path / "not" / "made"))
    calls: list[tuple[Path, object]] = []

    def train(destination: Path, progress: object = None) -> Path:
        calls.append((destination, progress))
        torch.manual_seed(11)
        torch.save(reference.build_model().state_dict(), destination)
        return destination

    monkeypatch.setattr(reference, "train", train)
    return calls


def seeded_reference_weights() -> dict[str, torch.Tensor]:
    torch.manual_seed(11)
    return _state(reference.build_model())


def test_default_weights_are_trained_once_into_the_cache_announced_in_one_line(
    empty_cache: list[tuple[Path, object]],
) -> None:
    path = reference.weights_path()
    said: list[str] = []
    classifier = load_pixel_classifier("reference", progress=said.append)
    assert said == [f"training the reference model once (cached in {path.parent})"]
    assert empty_cache == [(path, said.append)]
    assert path.is_file()
    assert same_weights(classifier.model.model, seeded_reference_weights())
    assert classifier.weights == "DEFAULT"
    again = load_pixel_classifier("reference", progress=said.append)
    assert len(said) == 1 and len(empty_cache) == 1  # cached: not trained again
    assert same_weights(again.model.model, seeded_reference_weights())


def test_the_cache_folder_may_exist_already(empty_cache: list[tuple[Path, object]]) -> None:
    path = reference.weights_path()
    path.parent.mkdir(parents=True)
    load_pixel_classifier("reference", progress=lambda line: None)
    assert [destination for destination, _ in empty_cache] == [path]


def test_without_a_progress_callback_the_line_goes_to_stderr_after_lltd(
    empty_cache: list[tuple[Path, object]], capsys: pytest.CaptureFixture[str]
) -> None:
    load_pixel_classifier("reference")
    folder = reference.weights_path().parent
    captured = capsys.readouterr()
    assert captured.err == f"lltd: training the reference model once (cached in {folder})\n"
    assert captured.out == ""


def test_a_weights_file_is_loaded_as_given_and_nothing_is_trained(
    empty_cache: list[tuple[Path, object]], tmp_path: Path
) -> None:
    torch.manual_seed(5)
    state = _state(reference.build_model())
    path = tmp_path / "mine.pt"
    torch.save(state, path)
    classifier = load_pixel_classifier("reference", path, progress=lambda line: None)
    assert same_weights(classifier.model.model, state)
    assert classifier.weights == str(path)
    assert empty_cache == [] and not reference.weights_path().exists()


def test_no_weights_is_the_random_network_labelled_random(
    empty_cache: list[tuple[Path, object]],
) -> None:
    classifier = load_pixel_classifier("reference", None, progress=lambda line: None)
    assert classifier.weights == "random"
    assert empty_cache == [] and not reference.weights_path().exists()
    assert not same_weights(classifier.model.model, seeded_reference_weights())


def test_the_reference_classifier_takes_64_pixels_names_its_12_classes_and_stays_nchw(
    empty_cache: list[tuple[Path, object]],
) -> None:
    classifier = load_pixel_classifier("reference", progress=lambda line: None)
    assert (classifier.name, classifier.size, classifier.device) == ("reference", 64, "cpu")
    assert classifier.classes == ClassNames(reference.CLASS_NAMES)
    assert len(classifier.classes) == 12
    convolutions = [m for m in classifier.model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convolutions) == 4
    assert all(c.weight.is_contiguous() for c in convolutions)
    assert not any(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convolutions)
    expected = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    assert torch.equal(classifier.model.mean, expected)


# -- EfficientNet-Lite0 ---------------------------------------------------------------------------


def test_efficientnet_on_the_cpu_is_channels_last_half_normalised_with_imagenet_names() -> None:
    pytest.importorskip("efficientnet_lite_pytorch", reason="the [imagenet] extra is not installed")
    classifier = load_pixel_classifier("efficientnet-lite0", None, "cpu")
    assert (classifier.size, classifier.weights, len(classifier.classes)) == (224, "random", 1000)
    assert classifier.classes.name(1) == "goldfish"
    convolutions = [m for m in classifier.model.modules() if isinstance(m, nn.Conv2d)]
    assert convolutions
    assert all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convolutions)
    assert torch.equal(classifier.model.mean, torch.full((1, 3, 1, 1), 0.5))
    assert torch.equal(classifier.model.std, torch.full((1, 3, 1, 1), 0.5))


# -- package.module:function factories -----------------------------------------------------------


def test_a_factory_entry_takes_size_and_normalisation_from_the_built_model() -> None:
    entry = model_entry(spec(own_everything))
    assert (entry.name, entry.size, entry.classes) == (spec(own_everything), 0, None)
    built = entry.load("DEFAULT", "cpu", lambda line: None)
    assert isinstance(built, ThreeWay) and not built.training


def test_a_factory_models_own_size_normalisation_and_names_win() -> None:
    classifier = load_pixel_classifier(spec(own_everything))
    assert (classifier.size, classifier.weights, classifier.device) == (32, "DEFAULT", "cpu")
    assert classifier.classes == ClassNames(OWN_NAMES)
    assert torch.equal(classifier.model.mean, torch.tensor(OWN_MEAN).view(1, 3, 1, 1))
    assert torch.equal(classifier.model.std, torch.tensor(OWN_STD).view(1, 3, 1, 1))


def test_a_factory_model_that_says_nothing_gets_224_imagenet_and_numbered_classes() -> None:
    classifier = load_pixel_classifier(spec(says_nothing))
    assert classifier.size == 224
    assert classifier.classes == ClassNames(("0", "1", "2"))  # counted by running it
    assert torch.equal(classifier.model.mean, torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
    assert torch.equal(classifier.model.std, torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))


def test_a_factory_models_names_of_the_wrong_count_are_replaced_by_numbers() -> None:
    classifier = load_pixel_classifier(spec(wrong_names))
    assert classifier.classes == ClassNames(("0", "1", "2"))


def test_predict_gives_each_images_top_class_without_autograd() -> None:
    classifier = load_pixel_classifier(spec(own_everything))
    network = classifier.model.model
    pixels = torch.zeros(3, 3, 32, 32)
    for image, brightest in enumerate((2, 0, 1)):
        pixels[image, brightest] = 1.0
    del network.grad_enabled[:]
    predicted = classifier.predict(pixels)
    assert predicted.tolist() == [2, 0, 1]
    assert predicted.device.type == "cpu"
    assert network.grad_enabled == [False]


# -- --synsets -------------------------------------------------------------------------------------


def test_a_synset_list_of_the_right_length_names_the_classes(tmp_path: Path) -> None:
    words = tmp_path / "synset_words.txt"
    words.write_text("n1 alpha, a\nn2 beta\nn3 gamma\n")
    classifier = load_pixel_classifier(spec(own_everything), synsets=words)
    assert classifier.classes == ClassNames(("alpha", "beta", "gamma"), ("n1", "n2", "n3"))


def test_a_synset_list_of_the_wrong_length_is_refused_in_one_line(tmp_path: Path) -> None:
    words = tmp_path / "synset_words.txt"
    words.write_text("n1 alpha\nn2 beta\n")
    with pytest.raises(UsageError) as refused:
        load_pixel_classifier(spec(own_everything), synsets=words)
    name = spec(own_everything)
    assert str(refused.value) == f"{words}: lists 2 classes but {name} has 3 outputs"


def test_a_synset_list_of_the_wrong_length_is_ignored_when_not_strict(tmp_path: Path) -> None:
    words = tmp_path / "synset_words.txt"
    words.write_text("n1 alpha\nn2 beta\n")
    loaded = load_pixel_classifier(spec(own_everything), synsets=words, strict_synsets=False)
    assert loaded.classes == ClassNames(OWN_NAMES)


# -- --device --------------------------------------------------------------------------------------


def test_auto_is_the_cpu_without_cuda_and_a_cuda_device_is_refused_in_one_line(
    no_cuda: None,
) -> None:
    assert resolve_device("auto") == "cpu"
    assert resolve_device("cpu") == "cpu"
    for device in ("cuda", "cuda:1"):
        with pytest.raises(UsageError) as refused:
            resolve_device(device)
        assert str(refused.value) == (
            f"--device {device}: CUDA is not available here (use cpu or auto)"
        )


def test_auto_is_cuda_where_cuda_is_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"
    assert resolve_device("cuda:1") == "cuda:1"
    assert resolve_device("cpu") == "cpu"


@pytest.mark.parametrize("device", ["tpu", "CPU", "Auto", "mps", ""])
def test_any_other_device_is_refused_naming_the_choices(no_cuda: None, device: str) -> None:
    with pytest.raises(UsageError) as refused:
        resolve_device(device)
    assert str(refused.value) == f"--device must be auto, cpu or cuda[:N], not {device!r}"


def test_the_classifier_runs_on_the_resolved_device(no_cuda: None) -> None:
    assert load_pixel_classifier(spec(own_everything), device="auto").device == "cpu"
    with pytest.raises(UsageError, match=r"^--device must be auto, cpu or cuda\[:N\], not 'gpu'$"):
        load_pixel_classifier(spec(own_everything), device="gpu")
