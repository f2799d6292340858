"""Contracts of ``--match-size`` (lltd/evaluate/match.py), pinned exactly: which JPEG quality is
paired with each WebP quality (closest mean size of the real bytes, the lower quality on a tie),
and each entry's figures (sizes, ratio, bits per pixel, clean, oblivious, adaptive and worst) on a
small fixed linear classifier, against values computed here without lltd's pairing (issue 27)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from test_sweep_contracts import Linear, _classes, _images  # noqa: E402

from lltd.evaluate import match  # noqa: E402
from lltd.evaluate.adaptive import AdaptiveSettings, attack_defense  # noqa: E402
from lltd.evaluate.data import Dataset  # noqa: E402
from lltd.evaluate.defenses import DefenseParameters, decode, make_defense, webp_bytes  # noqa: E402


def _jpeg_bytes(image: np.ndarray, quality: int) -> bytes:
    """Pillow's JPEG directly, not lltd's helper."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _jpeg_means(images: np.ndarray) -> dict[int, float]:
    return {q: float(np.mean([len(_jpeg_bytes(i, q)) for i in images])) for q in range(1, 101)}


def _closest(images: np.ndarray, webp_quality: int) -> int:
    target = np.mean([len(webp_bytes(image, webp_quality)) for image in images])
    means = _jpeg_means(images)
    return min(means, key=lambda q: (abs(means[q] - target), q))


def test_mean_bytes_is_the_mean_length_of_the_encoded_images() -> None:
    images = _images(3, 7)
    lengths = [len(webp_bytes(image, 50)) for image in images]
    assert match.mean_bytes(images, webp_bytes, 50) == sum(lengths) / 3
    assert type(match.mean_bytes(images, webp_bytes, 50)) is float


def test_equal_size_jpeg_is_the_quality_of_the_closest_mean_size() -> None:
    # Large images: JPEG reaches WebP's sizes, so the pair is inside the range.
    images = np.stack([np.kron(image, np.ones((4, 4, 1), np.uint8)) for image in _images(2, 3)])
    means = _jpeg_means(images)
    for webp_quality in (50, 95):
        best, webp_size, jpeg_size = match.equal_size_jpeg(images, webp_quality)
        target = np.mean([len(webp_bytes(image, webp_quality)) for image in images])
        assert webp_size == target and jpeg_size == means[best]
        assert best == _closest(images, webp_quality)
        assert 1 < best < 100
        assert all(abs(size - target) >= abs(jpeg_size - target) for size in means.values())
    # Tiny images: no JPEG gets as small as WebP (its headers alone), so quality 1 is closest.
    tiny = _images(2, 4)[:, :4, :4]
    best, webp_size, jpeg_size = match.equal_size_jpeg(tiny, 20)
    assert best == 1 and jpeg_size == _jpeg_means(tiny)[1] > webp_size


def test_equal_size_jpeg_takes_the_lower_quality_on_a_tie(monkeypatch: pytest.MonkeyPatch) -> None:
    # An encoder whose size stops growing at quality 30: 30..100 tie, 30 is taken.
    monkeypatch.setattr(match, "jpeg_bytes", lambda image, q: bytes(min(q, 30) * 10))
    monkeypatch.setattr(match, "webp_bytes", lambda image, q: bytes(q * 100))
    assert match.equal_size_jpeg(_images(1, 1), 90) == (30, 9000.0, 300.0)
    assert match.equal_size_jpeg(_images(1, 1), 1) == (10, 100.0, 100.0)
    monkeypatch.setattr(match, "jpeg_bytes", lambda image, q: bytes(abs(q - 50) + 1))
    assert match.equal_size_jpeg(_images(1, 1), 0) == (50, 0.0, 1.0)  # 49 and 51 tie lower
    monkeypatch.setattr(match, "jpeg_bytes", lambda image, q: bytes(q))
    assert match.equal_size_jpeg(_images(1, 1), 1) == (100, 100.0, 100.0)
    assert range(1, 101) == match.JPEG_QUALITIES


def _setup() -> tuple[Linear, Dataset, dict[str, tuple[np.ndarray, np.ndarray]]]:
    model = Linear(16 * 24 * 3)
    images = _images(6, 1)
    labels = _classes(model, images)
    noisy = np.clip(images.astype(int) + _images(6, 9) // 4 - 32, 0, 255).astype(np.uint8)
    data = Dataset(images, labels, "test")
    return model, data, {"none": (images, labels), "noise": (noisy, labels)}


def _right(model: Linear, codec: str, quality: int, images: np.ndarray, labels: np.ndarray):
    encode = {"webp": webp_bytes, "jpeg": _jpeg_bytes}[codec]
    decoded = np.stack([decode(encode(image, quality)) for image in images])
    return _classes(model, decoded) == labels


def test_each_webp_quality_and_its_equal_size_jpeg_get_an_entry_with_exact_figures() -> None:
    model, data, sets = _setup()
    said: list[str] = []
    entries = match.match_size(model, data, sets, [10, 60], None, said.append)
    jpegs = [_closest(data.images, 10), _closest(data.images, 60)]
    assert [(e["codec"], e["quality"], e["webp_quality"]) for e in entries] == [
        ("webp", 10, 10), ("jpeg", jpegs[0], 10), ("webp", 60, 60), ("jpeg", jpegs[1], 60)
    ]  # fmt: skip
    webp_sizes = {q: np.mean([len(webp_bytes(i, q)) for i in data.images]) for q in (10, 60)}
    means = _jpeg_means(data.images)
    assert said == [
        f"match-size: webp q{q} ({webp_sizes[q]:.0f} B) ~ jpeg q{j} ({means[j]:.0f} B)"
        for q, j in zip((10, 60), jpegs, strict=True)
    ]
    for entry in entries:
        size = webp_sizes[entry["quality"]] if entry["codec"] == "webp" else means[entry["quality"]]
        clean = _right(model, entry["codec"], entry["quality"], *sets["none"])
        noise = _right(model, entry["codec"], entry["quality"], *sets["noise"])
        assert entry == {
            "codec": entry["codec"], "quality": entry["quality"],
            "webp_quality": entry["webp_quality"], "mean_bytes": size,
            "size_ratio": size / webp_sizes[entry["webp_quality"]],
            "bits_per_pixel": 8 * size / (16 * 24), "clean": float(clean.mean()),
            "oblivious": float((clean & noise).mean()), "adaptive": None,
            "worst": float((clean & noise).mean()), "n": 6,
        }  # fmt: skip
    assert entries[0]["size_ratio"] == 1.0
    # The figures are only as good as the classifier: the codecs change some of its answers.
    assert len({(e["clean"], e["oblivious"]) for e in entries}) > 1
    assert any(e["oblivious"] < e["clean"] for e in entries)


def test_without_clean_images_clean_is_all_right_and_no_quality_means_the_defaults() -> None:
    model, data, sets = _setup()
    small = Dataset(data.images[:2], data.labels[:2], "test")
    noise = (sets["noise"][0][:2], sets["noise"][1][:2])
    entries = match.match_size(model, small, {"noise": noise}, [], None, lambda line: None)
    assert [e["webp_quality"] for e in entries] == [20, 20, 40, 40, 60, 60, 80, 80]
    assert match.DEFAULT_QUALITIES == (20, 40, 60, 80)
    for entry in entries:
        right = _right(model, entry["codec"], entry["quality"], *noise)
        assert entry["clean"] == 1.0 and entry["n"] == 2
        assert entry["oblivious"] == entry["worst"] == float(right.mean())


def test_adaptive_entries_are_bpda_pgd_through_the_codec_and_worst_is_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lltd.evaluate import adaptive

    def no_square(*args: object, **kwargs: object) -> None:
        raise AssertionError("Square ran: --match-size attacks with BPDA-PGD only")

    model, data, sets = _setup()
    settings = AdaptiveSettings(epsilon=2 / 255, steps=2, restarts=1, losses=("ce",), seed=3)
    said: list[str] = []
    with monkeypatch.context() as patch:
        patch.setattr(adaptive, "square_attack", no_square)
        entries = match.match_size(model, data, sets, [10], settings, said.append)
    assert [list(entry) for entry in entries] == [
        ["codec", "quality", "webp_quality", "mean_bytes", "size_ratio", "bits_per_pixel",
         "clean", "oblivious", "adaptive", "worst", "n"]
    ] * 2  # fmt: skip
    jpeg = entries[1]["quality"]
    assert said[1:] == [
        f"  webp q10: adaptive {100 * entries[0]['adaptive']:.1f} %, worst "
        f"{100 * entries[0]['worst']:.1f} %",
        f"  jpeg q{jpeg}: adaptive {100 * entries[1]['adaptive']:.1f} %, worst "
        f"{100 * entries[1]['worst']:.1f} %",
    ]
    for entry, defense in zip(
        entries,
        [make_defense("webp", DefenseParameters(10)),
         make_defense("jpeg", DefenseParameters(jpeg_quality=jpeg))],
        strict=True,
    ):  # fmt: skip
        result = attack_defense(model, defense, data.images, data.labels, settings, square=False)
        clean = _right(model, entry["codec"], entry["quality"], *sets["none"])
        noise = _right(model, entry["codec"], entry["quality"], *sets["noise"])
        assert entry["adaptive"] == float(1 - result.broken.mean())
        assert entry["worst"] == float((clean & noise & ~result.broken).mean())
        assert entry["oblivious"] == float((clean & noise).mean())
    # Informative only if the attack breaks some images and leaves others, and the oblivious
    # attacks break some it leaves.
    assert all(0 < e["adaptive"] < 1 for e in entries)
    assert any(e["worst"] < e["adaptive"] for e in entries)
