"""Loading networks (``lltd.models.loading``, issue 27), in-process and offline: torchvision
names and their weights entries, what reads as a path, factories, state_dict files in their usual
wrappings, the class count and Inception/GoogLeNet heads read from a file, and every refusal
word for word. (``test_models.py`` loads real torchvision networks end to end.)"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from lltd.common.errors import LltdError, UsageError  # noqa: E402
from lltd.models import loading  # noqa: E402
from lltd.models.loading import (  # noqa: E402
    check_torchvision_name,
    classification_models,
    is_factory_spec,
    load_classifier,
    load_weights_file,
    looks_like_path,
    weights_cache_file,
    weights_enum_member,
)

pytestmark = pytest.mark.torch

CHOOSE = "a torchvision model (torchvision.models.list_models()) or package.module:function"

FACTORY = """
import torch

def build():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 4))

def not_a_module():
    return 42
"""


@pytest.fixture
def factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "lltd_loading_net.py").write_text(FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(__import__("sys").modules, "lltd_loading_net", raising=False)
    return "lltd_loading_net"


def test_classification_models_are_torchvisions_classifiers_only() -> None:
    names = classification_models()
    assert names == list(torchvision.models.list_models(module=torchvision.models))
    assert "resnet18" in names and "fasterrcnn_resnet50_fpn" not in names
    with pytest.raises(UsageError):
        check_torchvision_name("fasterrcnn_resnet50_fpn")


def test_an_unknown_name_is_one_line_with_the_closest_three() -> None:
    with pytest.raises(UsageError) as caught:
        check_torchvision_name("resnet19")
    assert str(caught.value) == (
        f"unknown model 'resnet19' (did you mean resnet18, resnet152, resnet101?); choose {CHOOSE}"
    )
    with pytest.raises(UsageError) as caught:
        check_torchvision_name("zzzz", ("reference", "efficientnet-lite0"))
    assert str(caught.value) == (
        f"unknown model 'zzzz'; choose reference, efficientnet-lite0, {CHOOSE}"
    )
    with pytest.raises(UsageError) as caught:
        check_torchvision_name("referense", ("reference",))
    assert str(caught.value).startswith("unknown model 'referense' (did you mean reference")
    check_torchvision_name("squeezenet1_1")  # known: nothing raised


def test_weights_entries_by_default_or_member_name() -> None:
    enum = torchvision.models.ResNet50_Weights
    assert weights_enum_member("resnet50") is enum.DEFAULT is enum.IMAGENET1K_V2
    assert weights_enum_member("resnet50", "DEFAULT") is enum.IMAGENET1K_V2
    assert weights_enum_member("resnet50", "IMAGENET1K_V1") is enum.IMAGENET1K_V1
    with pytest.raises(UsageError) as caught:
        weights_enum_member("resnet50", "IMAGENET9K")
    assert str(caught.value) == (
        "model resnet50 has no weights 'IMAGENET9K'; use DEFAULT, one of IMAGENET1K_V1, "
        "IMAGENET1K_V2, or a file"
    )
    with pytest.raises(UsageError, match=r"^unknown model 'resnet5'"):
        weights_enum_member("resnet5")


def test_the_cache_file_is_under_the_hub_folder_by_the_urls_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    entry = weights_enum_member("squeezenet1_1")
    assert entry.url == "https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth"
    assert (
        weights_cache_file(entry) == tmp_path / "hub" / "checkpoints" / "squeezenet1_1-b8a52dc0.pth"
    )


def test_what_reads_as_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for text in ("w.pth", "w.pt", "w.bin", "w.ckpt", "dir/weights", "./IMAGENET1K_V1"):
        assert looks_like_path(text), text
    for text in ("IMAGENET1K_V1", "DEFAULT", "w.pth2", "w.pthx", "random"):
        assert not looks_like_path(text), text
    (tmp_path / "weights").write_bytes(b"")
    assert looks_like_path("weights")  # an existing file, whatever its name
    assert looks_like_path(Path("IMAGENET1K_V1"))  # a path object is a path
    assert is_factory_spec("pkg.mod:build") and not is_factory_spec("resnet18")


def test_a_factory_is_called_and_takes_a_file_or_default(tmp_path: Path, factory: str) -> None:
    model = load_classifier(f"{factory}:build", None)
    assert not model.training
    torch.manual_seed(9)
    other = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 4))
    torch.save(other.state_dict(), tmp_path / "w.pth")
    loaded = load_classifier(f"{factory}:build", str(tmp_path / "w.pth"))
    assert torch.equal(loaded[1].weight, other[1].weight)
    assert torch.equal(
        load_classifier(f"{factory}:build", tmp_path / "w.pth")[1].bias, other[1].bias
    )
    as_built = load_classifier(f"{factory}:build", "DEFAULT")
    assert torch.equal(as_built[1].weight, model[1].weight) and not as_built.training


def test_a_factory_refuses_in_one_line(tmp_path: Path, factory: str) -> None:
    nothing = f"module '{factory}' has no attribute 'nothing'"
    cases = [
        ("lltd_no_such_module:build", "DEFAULT",
         "--model lltd_no_such_module:build: cannot import it "
         "(No module named 'lltd_no_such_module')"),
        (f"{factory}:nothing", "DEFAULT",
         f"--model {factory}:nothing: cannot import it ({nothing})"),
        (f"{factory}:not_a_module", "DEFAULT",
         f"--model {factory}:not_a_module: returned int, not a torch module"),
        (f"{factory}:build", "IMAGENET1K_V1",
         f"--model {factory}:build takes --weights DEFAULT (as built) or a file"),
        (f"{factory}:build", str(tmp_path / "missing.pth"),
         f"{tmp_path / 'missing.pth'}: weights file not found"),
    ]  # fmt: skip
    for spec, weights, message in cases:
        with pytest.raises(UsageError) as caught:
            load_classifier(spec, weights)
        assert str(caught.value) == message
        assert caught.value.__suppress_context__ or caught.value.__context__ is None


def test_a_state_dict_in_its_usual_wrappings(tmp_path: Path) -> None:
    tensor = torch.ones(2)
    state = {"a.weight": tensor, "a.bias": tensor}
    for wrapped in (
        state,
        {"state_dict": state, "epoch": 3},
        {"model": state},
        {"model_state_dict": state, "optimizer": {"lr": 0.1}},
        {"module.a.weight": tensor, "module.a.bias": tensor},
        {"state_dict": {"module.a.weight": tensor, "module.a.bias": tensor}},
    ):
        assert loading._unwrap_checkpoint(wrapped, tmp_path) == state
    # Only a prefix on every key is DataParallel's.
    mixed = {"module.a.weight": tensor, "b.bias": tensor}
    assert loading._unwrap_checkpoint(mixed, tmp_path) == mixed
    assert loading._unwrap_checkpoint({}, tmp_path) == {}


@pytest.mark.parametrize(
    "loaded",
    [
        [1, 2],
        {"w": torch.ones(1), "epoch": 3},
        {"model": "x", "w": torch.ones(1)},
        7,
        {"state_dict": {"model": {"w": torch.ones(1)}}},  # one wrapping is taken off, not two
    ],
)
def test_anything_but_a_dict_of_tensors_is_refused(tmp_path: Path, loaded: object) -> None:
    with pytest.raises(LltdError) as caught:
        loading._unwrap_checkpoint(loaded, tmp_path / "w.pth")
    assert (
        str(caught.value) == f"{tmp_path / 'w.pth'}: not a state_dict (expected a dict of tensors)"
    )


def test_the_class_count_is_the_last_one_dimensional_bias() -> None:
    state = {
        "features.0.bias": torch.zeros(64),
        "fc.weight": torch.zeros(7, 3),
        "fc.bias": torch.zeros(7),
        "AuxLogits.fc.bias": torch.zeros(9),  # Inception's auxiliary head comes last: not it
        "bn.num_batches_tracked.bias": torch.zeros(()),  # not one-dimensional
    }
    assert loading._infer_num_classes(state) == 7
    assert loading._infer_num_classes({"fc.weight": torch.zeros(7, 3)}) == 1000
    assert loading._infer_num_classes({}) == 1000


def test_a_file_that_torch_cannot_read_is_one_line(tmp_path: Path) -> None:
    for name, data in (("junk.pth", b"not a pickle"), ("empty.pth", b"")):
        path = tmp_path / name
        path.write_bytes(data)
        try:
            torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # what torch says, first line
            text = str(exc).strip()
            first = text.splitlines()[0] if text else type(exc).__name__
        with pytest.raises(LltdError) as caught:
            load_classifier("squeezenet1_1", path)
        assert str(caught.value) == f"{path}: not a readable PyTorch state_dict ({first})"
    with pytest.raises(UsageError) as caught:
        load_classifier("squeezenet1_1", tmp_path / "missing.pth")
    assert str(caught.value) == f"{tmp_path / 'missing.pth'}: weights file not found"
    with pytest.raises(UsageError, match=r"^unknown model 'squeezenet9'"):
        load_classifier("squeezenet9", tmp_path / "junk.pth")


def test_weights_that_do_not_fit_say_why_in_at_most_300_characters(tmp_path: Path) -> None:
    small = torch.nn.Linear(2, 2)
    torch.save({"weight": torch.zeros(2, 2)}, tmp_path / "short.pth")
    try:
        torch.nn.Linear(2, 2).load_state_dict({"weight": torch.zeros(2, 2)})
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())
    assert len(detail) <= 300
    with pytest.raises(LltdError) as caught:
        load_weights_file(small, tmp_path / "short.pth", "lin")
    assert str(caught.value) == f"{tmp_path / 'short.pth'}: does not fit lin ({detail})"
    state = {f"layer{i}.weight": torch.zeros(1) for i in range(40)}
    torch.save(state, tmp_path / "long.pth")
    try:
        torch.nn.Linear(2, 2).load_state_dict(state)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())
    assert len(detail) > 300
    with pytest.raises(LltdError) as caught:
        load_weights_file(small, tmp_path / "long.pth", "lin")
    assert str(caught.value) == f"{tmp_path / 'long.pth'}: does not fit lin ({detail[:300]}...)"
    assert "\n" not in str(caught.value)


def test_a_detail_of_exactly_300_characters_is_kept_whole(tmp_path: Path) -> None:
    def detail(key: str) -> str:
        try:
            torch.nn.Linear(2, 2).load_state_dict(
                {"weight": torch.zeros(2, 2), key: torch.zeros(1)}
            )
        except RuntimeError as exc:
            return " ".join(str(exc).split())
        raise AssertionError("loaded")

    base = len(detail("k"))
    for size in (300, 301):
        key = "k" * (size - base + 1)
        assert len(detail(key)) == size
        torch.save({"weight": torch.zeros(2, 2), key: torch.zeros(1)}, tmp_path / "w.pth")
        with pytest.raises(LltdError) as caught:
            load_weights_file(torch.nn.Linear(2, 2), tmp_path / "w.pth", "lin")
        cut = "" if size == 300 else "..."
        assert (
            str(caught.value)
            == f"{tmp_path / 'w.pth'}: does not fit lin ({detail(key)[:300]}{cut})"
        )


def test_random_googlenet_and_inception_keep_torchvisions_own_initialisation() -> None:
    torch.manual_seed(5)
    loaded = load_classifier("googlenet", None)
    torch.manual_seed(5)
    expected = torchvision.models.googlenet(weights=None, init_weights=True)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in expected.state_dict().items())


def test_a_state_dict_file_builds_the_network_with_its_class_count(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = torchvision.models.squeezenet1_1(num_classes=7)
    torch.save({"model": net.state_dict()}, tmp_path / "sq.pth")
    loaded = load_classifier("squeezenet1_1", tmp_path / "sq.pth")
    assert not loaded.training
    by_text = load_classifier("squeezenet1_1", str(tmp_path / "sq.pth"))  # a path as text too
    assert all(torch.equal(by_text.state_dict()[k], v) for k, v in net.state_dict().items())
    assert loaded.state_dict().keys() == net.state_dict().keys()
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in net.state_dict().items())


@pytest.mark.parametrize(("aux", "classes", "transform"), [(True, 1000, True), (True, 10, False)])
def test_inception_rescales_its_input_only_for_a_checkpoint_shaped_like_torchvisions(
    tmp_path: Path, aux: bool, classes: int, transform: bool
) -> None:
    torch.manual_seed(0)
    net = torchvision.models.inception_v3(
        weights=None, aux_logits=aux, init_weights=False, num_classes=classes
    )
    torch.save(net.state_dict(), tmp_path / "inception.pth")
    loaded = load_classifier("inception_v3", tmp_path / "inception.pth")
    assert (loaded.transform_input, loaded.AuxLogits is not None) == (transform, aux)
    assert loaded.fc.out_features == classes


@pytest.mark.parametrize("aux", [True, False])
def test_googlenet_takes_its_auxiliary_heads_from_the_file(tmp_path: Path, aux: bool) -> None:
    torch.manual_seed(0)
    net = torchvision.models.googlenet(
        weights=None, aux_logits=aux, init_weights=False, num_classes=6
    )
    torch.save(net.state_dict(), tmp_path / "g.pth")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "default initialisation will change" warning
        loaded = load_classifier("googlenet", tmp_path / "g.pth")
    assert (loaded.aux1 is not None, loaded.aux2 is not None) == (aux, aux)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in net.state_dict().items())


@pytest.mark.parametrize("name", ["googlenet", "inception_v3"])
def test_a_state_dict_file_skips_the_random_initialisation_it_would_overwrite(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both networks draw their random weights from a truncated normal (slow: scipy-style
    # rejection over every weight); a file replaces all of them, so none is drawn.
    net = torchvision.models.get_model(name, weights=None, aux_logits=True, init_weights=False)
    torch.save(net.state_dict(), tmp_path / "w.pth")

    def drawn(*args: object, **kwargs: object) -> None:
        raise AssertionError("random initialisation drawn before loading a state dict")

    monkeypatch.setattr(torch.nn.init, "trunc_normal_", drawn)
    loaded = load_classifier(name, tmp_path / "w.pth")
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in net.state_dict().items())


@pytest.mark.parametrize("name", ["googlenet", "inception_v3"])
def test_random_weights_for_the_two_that_warn_build_without_a_warning(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = load_classifier(name, None)
    assert not model.training


def test_published_weights_that_cannot_be_had_say_where_to_put_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")  # refuses at once: no download
    monkeypatch.setenv("no_proxy", "")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    entry = weights_enum_member("squeezenet1_1")
    cached = tmp_path / "hub" / "checkpoints" / "squeezenet1_1-b8a52dc0.pth"
    with pytest.raises(LltdError) as caught:
        load_classifier("squeezenet1_1")
    message = str(caught.value)
    assert message.startswith(f"the {entry} weights for squeezenet1_1 could not be downloaded (")
    assert message.endswith(
        f"); place {entry.url} at {cached} (the torch hub cache, $TORCH_HOME/hub/checkpoints) "
        "or pass --weights PATH"
    )
    assert "\n" not in message and capsys.readouterr().out == ""
    try:  # the same download, asked of torch directly: its first line is the reason given
        torch.hub.load_state_dict_from_url(entry.url, model_dir=str(tmp_path / "direct"))
    except OSError as exc:
        reason = str(exc).strip().splitlines()[0]
    capsys.readouterr()  # torch's own "Downloading: ..." line, not lltd's
    assert reason and f"could not be downloaded ({reason}); place " in message
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(LltdError) as caught:
        load_classifier("squeezenet1_1", "IMAGENET1K_V1")
    assert str(caught.value).startswith(f"the {entry} weights for squeezenet1_1 are unreadable (")
    assert capsys.readouterr().out == ""
