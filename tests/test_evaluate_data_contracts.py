"""``lltd.evaluate.data`` in-process: labelled sets from real folders (and foolbox's bundled
photographs), spread subsets, joined sources, adversarial-to-clean pairing, and the refusals word
for word."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch", reason="lltd.evaluate.data needs the [attack] extra")

from lltd.common.errors import ImageError, UsageError
from lltd.evaluate import data
from lltd.evaluate.data import (
    FOOLBOX_SAMPLES,
    Dataset,
    join,
    load_folder,
    pair,
    pairing_key,
    true_class,
)
from lltd.models import ClassNames

pytestmark = pytest.mark.torch

CLASSES = ClassNames(("cat", "dog", "tabby cat"), ("n02123045", "n02085620", "n02123159"))
PLAIN = ClassNames(("cat", "dog", "fox"))  # no synsets


def numbered(count: int, names: bool = True, origin: bool = False) -> Dataset:
    """``count`` 1 x 1 images whose single value is their index, labelled by their index."""
    return Dataset(
        np.arange(count, dtype=np.uint8).reshape(count, 1, 1, 1),
        np.arange(count, dtype=np.int64),
        "numbers",
        ["skipped.png"],
        [f"n{i}" for i in range(count)] if names else [],
        np.arange(count) % 2 if origin else None,
    )


def save(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (4, 4)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, format="PNG")
    return path


def test_a_subset_spreads_evenly_over_the_set_and_keeps_what_each_image_carries() -> None:
    full = numbered(10, origin=True)
    assert full.subset(None) is full and full.subset(10) is full and full.subset(11) is full
    three = full.subset(3)  # linspace(0, 9, 3) = 0, 4.5, 9: 4.5 rounds to even
    assert three.labels.tolist() == [0, 4, 9] and three.images[:, 0, 0, 0].tolist() == [0, 4, 9]
    assert three.names == ["n0", "n4", "n9"] and three.origin.tolist() == [0, 0, 1]
    assert (three.source, three.skipped, len(three)) == ("numbers", ["skipped.png"], 3)
    assert full.subset(4).labels.tolist() == [0, 3, 6, 9]
    assert full.subset(9).labels.tolist() == [0, 1, 2, 3, 4, 6, 7, 8, 9]
    assert full.subset(1).labels.tolist() == [0]
    bare = numbered(5, names=False).take(np.array([4, 1]))
    assert bare.names == [] and bare.origin is None and bare.labels.tolist() == [4, 1]


def test_a_set_made_without_skips_names_or_sources_has_none_of_them() -> None:
    bare = Dataset(np.zeros((2, 1, 1, 3), np.uint8), np.array([0, 1]), "x")
    assert bare.skipped == [] and bare.names == [] and bare.origin is None
    bare.skipped.append("y")
    assert Dataset(bare.images, bare.labels, "z").skipped == []  # not one shared list
    assert join([bare, bare]).names == ["", "", "", ""]


def test_joined_sets_concatenate_and_each_image_remembers_its_source() -> None:
    one = numbered(2)
    assert join([one]) is one
    other = Dataset(
        np.full((3, 1, 1, 1), 7, np.uint8), np.array([5, 6, 7]), "other", ["b.png", "c.png"]
    )
    both = join([one, other])
    assert both.labels.tolist() == [0, 1, 5, 6, 7]
    assert both.images[:, 0, 0, 0].tolist() == [0, 1, 7, 7, 7]
    assert both.source == "numbers, other" and both.sources == ["numbers", "other"]
    assert both.skipped == ["skipped.png", "b.png", "c.png"]
    assert both.names == ["n0", "n1", "", "", ""]  # a set without names keeps the places
    assert both.origin.tolist() == [0, 0, 1, 1, 1]
    assert numbered(1).sources == ["numbers"]


def test_an_adversarial_name_pairs_by_the_stem_it_was_made_from() -> None:
    assert pairing_key("Adv_cat 1-n02085620 dog") == "cat 1-n02085620 dog"
    assert pairing_key("Adv_") == "" and pairing_key("adv_cat") == "adv_cat"
    assert pairing_key("xAdv_cat") == "xAdv_cat" and pairing_key("Ad") == "Ad"
    clean = ["cat", "cat-2", "", "dog-big", "z"]
    adversarial = [
        "Adv_cat-2-n1",  # the longest clean stem followed by "-": cat-2, not cat
        "Adv_cat-n1-n2",  # cat
        "cat",  # exactly a clean name, no prefix
        "Adv_dog-big",  # exactly
        "Adv_dog-n1",  # "dog" is no clean name
        "Adv_-x",  # the empty clean name pairs with nothing
        "Adv_catalog-1",  # a stem must be followed by "-"
        "zebra",
    ]
    got = pair(clean, adversarial)
    assert got.tolist() == [1, 0, 0, 3, -1, -1, -1, -1]
    assert got.dtype == np.int64
    assert pair([], []).tolist() == [] and pair(["a"], ["a-b-c"]).tolist() == [0]


def test_the_true_class_comes_from_the_name_then_the_folder(tmp_path: Path) -> None:
    root = tmp_path.resolve()
    assert true_class(root / "n02085620 dog.png", root, CLASSES) == 1
    assert true_class(root / "n02123159" / "x.png", root, CLASSES) == 2  # synset folder
    assert true_class(root / "x.png", root, CLASSES) is None  # at the root: no folder to read
    assert true_class(root / "n09999999 dog.png", root, CLASSES) == 1  # unknown synset, by name
    assert true_class(root / "tabby_cat" / "x.png", root, CLASSES) == 2  # a class name
    assert true_class(root / "1" / "x.png", root, PLAIN) == 1  # an index
    assert true_class(root / "2" / "x.png", root, PLAIN) == 2  # the last index
    assert true_class(root / "3" / "x.png", root, PLAIN) is None  # one past the end
    assert true_class(root / "wolf" / "x.png", root, PLAIN) is None
    assert true_class(root / "fox" / "2" / "x.png", root, PLAIN) == 2  # the parent folder only
    # A name's synset wins over the folder.
    assert true_class(root / "dog" / "n02123045 cat.png", root, CLASSES) == 0


def test_a_folder_loads_sorted_labelled_and_cropped_and_skips_what_cannot_be_read(
    tmp_path: Path,
) -> None:
    save(tmp_path / "dog" / "b.png", (10, 20, 30))
    save(tmp_path / "dog" / "a.png", (40, 50, 60), (8, 4))  # wider: resized, centre-cropped
    save(tmp_path / "n02123045 cat.png", (70, 80, 90))
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "broken.png").write_bytes(b"not a png")
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    warned: list[str] = []
    got = load_folder(tmp_path, CLASSES, 4, warn=warned.append)
    assert got.names == ["n02123045 cat", "a", "b"]  # the scanner's order: a folder's files first
    assert got.labels.tolist() == [0, 1, 1] and got.labels.dtype == np.int64
    assert got.images.shape == (3, 4, 4, 3) and got.images.dtype == np.uint8
    assert [tuple(image[0, 0]) for image in got.images] == [
        (70, 80, 90),
        (40, 50, 60),
        (10, 20, 30),
    ]
    broken = tmp_path / "cat" / "broken.png"
    assert got.skipped == [str(broken)]
    assert len(warned) == 1 and warned[0].startswith(f"lltd: skipped: {broken}: ")
    assert got.source == str(tmp_path) and got.origin is None


def test_skipped_images_are_said_on_stderr_by_default(tmp_path: Path, capsys) -> None:
    save(tmp_path / "dog" / "a.png", (1, 2, 3))
    (tmp_path / "dog" / "b.png").write_bytes(b"")
    got = load_folder(tmp_path, CLASSES, 2)
    assert len(got) == 1 and got.images.shape == (1, 2, 2, 3)
    err = capsys.readouterr().err
    assert err.startswith(f"lltd: skipped: {tmp_path / 'dog' / 'b.png'}: ") and err.count("\n") == 1


def test_an_image_too_large_for_max_pixels_is_skipped(tmp_path: Path) -> None:
    save(tmp_path / "dog" / "big.png", (1, 2, 3), (5, 4))
    save(tmp_path / "dog" / "small.png", (1, 2, 3), (4, 5))
    warned: list[str] = []
    assert len(load_folder(tmp_path, CLASSES, 2, 20, warn=warned.append)) == 2
    with pytest.raises(UsageError) as refused:
        load_folder(tmp_path, CLASSES, 2, 19, warn=warned.append)
    assert str(refused.value) == f"--data {tmp_path}: none of the images could be read"
    assert len(warned) == 2


def test_folder_refusals_name_the_option_and_the_folder(tmp_path: Path) -> None:
    def refusal(root: Path, **kw) -> str:
        with pytest.raises(UsageError) as refused:
            load_folder(root, CLASSES, 4, warn=lambda message: None, **kw)
        return str(refused.value)

    missing = tmp_path / "missing"
    assert refusal(missing) == f"--data {missing}: not a folder"
    assert refusal(missing, option="--adversarial") == f"--adversarial {missing}: not a folder"
    afile = save(tmp_path / "file.png", (0, 0, 0))
    assert refusal(afile) == f"--data {afile}: not a folder"
    empty = tmp_path / "empty"
    (empty / "dog").mkdir(parents=True)
    (empty / "dog" / "notes.txt").write_text("x")
    assert refusal(empty) == f"--data {empty}: no images found"
    assert refusal(empty, option="--adversarial") == f"--adversarial {empty}: no images found"
    unreadable = tmp_path / "unreadable"
    (unreadable / "dog").mkdir(parents=True)
    (unreadable / "dog" / "x.png").write_bytes(b"junk")
    assert refusal(unreadable) == f"--data {unreadable}: none of the images could be read"


def test_an_image_whose_class_cannot_be_told_is_an_error_saying_how_to_name_it(
    tmp_path: Path,
) -> None:
    def refusal(path: Path) -> str:
        save(path, (0, 0, 0))
        with pytest.raises(UsageError) as refused:
            load_folder(path.parent if path.parent != tmp_path else tmp_path, CLASSES, 4)
        path.unlink()
        return str(refused.value)

    loose = tmp_path / "x\nnewline.png"
    assert refusal(loose) == (
        f"{tmp_path}/x\\nnewline.png: cannot tell its true class; name it '<synset> <name>.<ext>' "
        "or put it in a folder named after its class (a synset, a class name or an index)"
    )
    unknown = tmp_path / "n09999999 wolf.png"
    assert refusal(unknown) == (
        f"{unknown}: its synset n09999999 (from its filename) is not in the model's class names; "
        "pass --synsets FILE (ImageNet's synset_words.txt, one 'nXXXXXXXX name' per line, in the "
        "model's class order)"
    )
    in_folder = tmp_path / "n09999999" / "x.png"
    assert refusal(in_folder).startswith(f"{in_folder}: its synset n09999999 (from its folder) ")


def test_foolbox_samples_are_its_20_imagenet_photographs_with_their_class_indices() -> None:
    if importlib.util.find_spec("foolbox") is None:
        pytest.skip("foolbox is not installed (the [attack] extra)")
    classes = ClassNames(tuple(str(i) for i in range(1000)))
    got = data.foolbox_samples(classes, 8)
    spec = importlib.util.find_spec("foolbox")
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    files = sorted(folder.glob("imagenet_*.jpg"), key=lambda p: int(p.stem.split("_")[1]))
    assert len(got) == len(files) == 20
    assert got.names == [path.stem for path in files]
    assert got.labels.tolist() == [int(path.stem.split("_")[2]) for path in files]
    assert got.labels.dtype == np.int64
    assert got.images.shape == (20, 8, 8, 3) and got.source == FOOLBOX_SAMPLES == "foolbox-samples"
    # Each is the photograph resized and centre-cropped as a folder's image would be.
    single = load_folder_like(files[3], classes)
    assert np.array_equal(got.images[3], single)
    with pytest.raises(UsageError) as refused:
        data.foolbox_samples(ClassNames(tuple(str(i) for i in range(999))), 8)
    assert str(refused.value) == (
        "--data foolbox-samples: its labels are ImageNet's 1000 class indices, and this model "
        "has 999 classes"
    )
    with pytest.raises(ImageError, match=r"exceeds the limit of 100 \(--max-pixels\)$"):
        data.foolbox_samples(classes, 8, max_pixels=100)


def load_folder_like(path: Path, classes: ClassNames) -> np.ndarray:
    from lltd.imaging.imageio import open_image
    from lltd.models import preprocess, to_8bit

    return to_8bit(preprocess(open_image(path, None), 8)).numpy()


def test_foolbox_samples_refuse_without_foolbox_or_without_its_photographs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    classes = ClassNames(tuple(str(i) for i in range(1000)))

    def refusal(spec) -> str:
        monkeypatch.setattr(importlib.util, "find_spec", lambda name: spec)
        with pytest.raises(UsageError) as refused:
            data.foolbox_samples(classes, 8)
        return str(refused.value)

    absent = "--data foolbox-samples: foolbox is not installed (the [attack] extra)"
    assert refusal(None) == absent
    assert refusal(SimpleNamespace(submodule_search_locations=[])) == absent
    assert refusal(SimpleNamespace(submodule_search_locations=None)) == absent
    package = tmp_path / "foolbox"
    spec = SimpleNamespace(submodule_search_locations=[str(package)])
    none = f"--data foolbox-samples: no imagenet_NN_<label>.jpg in {package / 'data'}"
    assert refusal(spec) == none  # no data folder at all
    save(package / "data" / "cifar10_00_3.png", (0, 0, 0))
    save(package / "data" / "imagenet_00_3.png", (0, 0, 0))  # not a .jpg
    save(package / "data" / "imagenet_x_3.jpg", (0, 0, 0))
    save(package / "data" / "imagenet_00_3.jpgx", (0, 0, 0))
    save(package / "data" / "ximagenet_00_3.jpg", (0, 0, 0))
    assert refusal(spec) == none
    save(package / "data" / "imagenet_10_7.jpg", (9, 9, 9))
    save(package / "data" / "imagenet_2_999.jpg", (200, 200, 200))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: spec)
    got = data.foolbox_samples(classes, 2)
    assert got.names == ["imagenet_2_999", "imagenet_10_7"]  # by number, not by name
    assert got.labels.tolist() == [999, 7]


def test_the_reference_data_is_the_reference_tasks_test_split() -> None:
    from lltd.evaluate.reference import reference_dataset

    got = data.reference_data()
    images, labels = reference_dataset("test")
    assert got.source == "reference:test" and len(got) == 288
    assert np.array_equal(got.images, images) and np.array_equal(got.labels, labels)
