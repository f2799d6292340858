"""``lltd.models``: loading torchvision classifiers from state_dict files, preprocessing, names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from PIL import Image  # noqa: E402

from lltd.common.errors import LltdError, UsageError  # noqa: E402
from lltd.models import (  # noqa: E402
    Normalized,
    class_names,
    load_classifier,
    load_pixel_classifier,
    model_entry,
    preprocess,
    weights_cache_file,
    weights_enum_member,
)

pytestmark = pytest.mark.torch


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("wrap", ["plain", "checkpoint", "data_parallel"])
def test_state_dict_file_in_any_usual_wrapping(tmp_path: Path, wrap: str) -> None:
    torch.manual_seed(0)
    net = torchvision.models.squeezenet1_1(num_classes=7)
    state = net.state_dict()
    saved = {
        "plain": state,
        "checkpoint": {"model": state, "optimizer": {}, "epoch": 12},
        "data_parallel": {f"module.{key}": value for key, value in state.items()},
    }[wrap]
    path = tmp_path / "weights.pth"
    torch.save(saved, path)
    loaded = load_classifier("squeezenet1_1", path)
    assert same_weights(loaded, net)
    assert not loaded.training
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(loaded(x), net.eval()(x))


@pytest.mark.parametrize("aux", [True, False])
def test_inception_state_dict_with_or_without_aux_head(tmp_path: Path, aux: bool) -> None:
    torch.manual_seed(0)
    net = torchvision.models.inception_v3(
        weights=None, aux_logits=aux, init_weights=False, num_classes=5
    )
    path = tmp_path / "inception.pth"
    torch.save(net.state_dict(), path)
    loaded = load_classifier("inception_v3", str(path))
    assert same_weights(loaded, net)
    assert (loaded.AuxLogits is not None) == aux
    assert model_entry("inception_v3").size == 299 and model_entry("resnet50").size == 224


def test_wrong_or_broken_weights_files_are_one_line_errors(tmp_path: Path) -> None:
    torch.save(torchvision.models.squeezenet1_1(num_classes=3).state_dict(), tmp_path / "sq.pth")
    with pytest.raises(LltdError, match=r"sq\.pth: does not fit resnet18") as info:
        load_classifier("resnet18", tmp_path / "sq.pth")
    assert "\n" not in str(info.value)
    (tmp_path / "junk.pth").write_bytes(b"not a pickle")
    with pytest.raises(LltdError, match=r"junk\.pth: not a readable PyTorch state_dict"):
        load_classifier("resnet18", tmp_path / "junk.pth")
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(LltdError, match="not a state_dict"):
        load_classifier("resnet18", tmp_path / "list.pth")
    with pytest.raises(UsageError, match="weights file not found"):
        load_classifier("resnet18", tmp_path / "missing.pth")
    with pytest.raises(UsageError, match="no weights 'IMAGENET9K'"):
        load_classifier("resnet18", "IMAGENET9K")


def test_missing_published_weights_name_the_file_and_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")  # refuses at once: no download
    monkeypatch.setenv("no_proxy", "")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    entry = weights_enum_member("squeezenet1_1")
    with pytest.raises(LltdError) as info:
        load_classifier("squeezenet1_1")
    message = str(info.value)
    assert "\n" not in message
    assert entry.url in message
    assert str(tmp_path / "hub" / "checkpoints" / Path(entry.url).name) in message
    assert weights_cache_file(entry) == tmp_path / "hub" / "checkpoints" / Path(entry.url).name
    assert "--weights PATH" in message


def test_published_weights_come_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file placed where the error says is what DEFAULT loads (the hash prefix must match, so
    stand in a real file under the expected name with hash checking off in torchvision)."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    entry = weights_enum_member("squeezenet1_1")
    torch.manual_seed(3)
    net = torchvision.models.squeezenet1_1()
    cached = weights_cache_file(entry)
    cached.parent.mkdir(parents=True)
    torch.save(net.state_dict(), cached)
    original = torch.hub.load_state_dict_from_url

    def no_hash_check(url: str, *args: object, **kwargs: object) -> object:
        kwargs["check_hash"] = False
        return original(url, *args, model_dir=str(cached.parent), **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", no_hash_check)
    assert same_weights(load_classifier("squeezenet1_1", "DEFAULT"), net)


def test_pixel_classifier_names_and_normalisation(tmp_path: Path) -> None:
    torch.manual_seed(0)
    classifier = load_pixel_classifier("squeezenet1_1", None, "cpu")
    assert classifier.size == 224
    assert classifier.classes.name(1) == "goldfish"  # torchvision's metadata
    assert classifier.classes.synsets is None
    words = tmp_path / "synset_words.txt"
    words.write_text("n01440764 tench, Tinca tinca\nn01443537 goldfish, Carassius auratus\n")
    with pytest.raises(UsageError, match="lists 2 classes but squeezenet1_1 has 1000"):
        load_pixel_classifier("squeezenet1_1", None, "cpu", words)
    assert (
        len(
            load_pixel_classifier("squeezenet1_1", None, "cpu", words, strict_synsets=False).classes
        )
        == 1000
    )
    names = class_names(words)
    assert names.names == ("tench", "goldfish") and names.label(1) == "n01443537 goldfish"
    inner = torch.nn.Identity()
    wrapped = Normalized(inner)
    x = torch.rand(2, 3, 4, 4)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    assert torch.allclose(wrapped(x), (x - mean) / std)


def test_preprocess_is_identity_on_crops_and_centre_crops_others() -> None:
    gradient = Image.linear_gradient("L").resize((299, 299)).convert("RGB")
    tensor = preprocess(gradient, 299)
    assert tensor.shape == (3, 299, 299) and tensor.dtype == torch.float32
    import numpy as np

    assert np.array_equal(
        (tensor * 255).round().byte().permute(1, 2, 0).numpy(), np.asarray(gradient)
    )
    wide = Image.new("RGB", (600, 300), (255, 0, 0))
    wide.paste((0, 0, 255), (0, 0, 100, 300))  # a blue left edge: cropped away
    out = preprocess(wide, 224)
    assert out.shape == (3, 224, 224)
    assert float(out[0].min()) == 1.0 and float(out[2].max()) == 0.0
    assert preprocess(wide, 224, crop_fraction=224 / 256).shape == (3, 224, 224)


def _imports(path: Path, package: str) -> set[str]:
    """Every lltd module ``path`` imports, at any depth of the file (function bodies too)."""
    import ast

    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.startswith(package)}


def test_lltd_has_no_import_circle() -> None:
    """No module of lltd reaches itself through imports (issue 12). Importing ``a.b.c`` runs
    ``a.b`` first, so a package's __init__ counts as imported too (except from inside that
    package). Imports inside functions count."""
    root = Path(__file__).resolve().parents[1]
    modules = {
        ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): path
        for path in (root / "lltd").rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges: set[str] = set()
        for target in _imports(path, "lltd"):
            while target and target not in modules:
                target = target.rpartition(".")[0]  # ``from pkg import function``
            parts = target.split(".")
            # A package's own modules run inside its __init__: no edge to their own package.
            edges |= {
                ".".join(parts[:i])
                for i in range(2, len(parts) + 1)
                if not name.startswith(".".join(parts[:i]) + ".")
            } - {name}
        graph[name] = edges & set(modules)
    wanted = sorted(graph)

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            current = todo.pop()
            for nxt in graph.get(current, ()):
                if nxt == goal:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    circles = [name for name in wanted if reaches(name, name)]
    assert not circles, circles
