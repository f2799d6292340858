"""``lltd.torch.WebPFlip`` on tensors, against the paper's formula computed here with Pillow."""

from __future__ import annotations

import copy
import io
import pickle
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from lltd.torch import WebPFlip  # noqa: E402

pytestmark = pytest.mark.torch

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"


def formula_hwc(
    array: np.ndarray,
    quality: float = 60,
    flip: str | None = "horizontal",
    order: str = "webp-flip",
) -> np.ndarray:
    """HxWxC uint8 -> the defended HxWxC uint8, with Pillow and NumPy only."""
    channels = array.shape[2]
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]

    def compress(a: np.ndarray) -> np.ndarray:
        buffer = io.BytesIO()
        Image.fromarray(a[..., 0] if channels == 1 else a).save(
            buffer, format="WEBP", quality=quality, method=4
        )
        out = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert(mode))
        return out[..., None] if channels == 1 else out

    def mirror(a: np.ndarray) -> np.ndarray:
        if flip is None:
            return a
        return a[:, ::-1] if flip == "horizontal" else a[::-1]

    steps = (compress, mirror) if order == "webp-flip" else (mirror, compress)
    for step in steps:
        array = step(array)
    return array.copy()  # contiguous and writable


def formula_chw(tensor: torch.Tensor, **kwargs: object) -> torch.Tensor:
    hwc = tensor.permute(1, 2, 0).numpy()
    return torch.from_numpy(formula_hwc(hwc, **kwargs)).permute(2, 0, 1)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def batch() -> torch.Tensor:
    """Four real 40x56 crops (non-square: a transposed result would not fit), NCHW uint8."""
    crops = []
    for name, box in [
        ("astronaut.png", (100, 40, 156, 80)),
        ("Chelsea's nap on the sofa.png", (60, 90, 116, 130)),
        ("coffee.jpg", (150, 150, 206, 190)),
        ("retina.jpg", (120, 100, 176, 140)),
    ]:
        with Image.open(SAMPLE_DATA / name) as image:
            crops.append(np.asarray(image.convert("RGB").crop(box)))
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous()


def test_is_a_module_without_parameters() -> None:
    module = WebPFlip()
    assert isinstance(module, torch.nn.Module)
    assert list(module.parameters()) == [] and list(module.buffers()) == []
    assert "quality=60" in repr(module)


def test_chw_uint8_equals_formula(batch: torch.Tensor) -> None:
    image = batch[0]
    out = WebPFlip(workers=1)(image)
    assert out.dtype == torch.uint8 and out.shape == image.shape and out.device == image.device
    assert torch.equal(out, formula_chw(image))
    assert not torch.equal(out, torch.flip(image, dims=(-1,)))  # WebP really changed it


def test_nchw_uint8_equals_formula_per_image(batch: torch.Tensor) -> None:
    out = WebPFlip(workers=1)(batch)
    assert out.dtype == torch.uint8 and out.shape == batch.shape
    for got, image in zip(out, batch, strict=True):
        assert torch.equal(got, formula_chw(image))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_float_input_equals_uint8_path_over_255(batch: torch.Tensor, dtype: torch.dtype) -> None:
    generator = torch.Generator().manual_seed(0)
    # Values between the 8-bit levels: the transform quantises them to the nearest level first.
    x = (batch.to(dtype) + torch.rand(batch.shape, generator=generator, dtype=dtype) - 0.5) / 255
    x = x.clamp(0, 1)
    module = WebPFlip(workers=1)
    out = module(x)
    assert out.dtype == dtype and out.shape == x.shape and out.device == x.device
    as_uint8 = (x * 255).round().to(torch.uint8)
    expected = module(as_uint8).to(dtype) / 255
    assert torch.equal(out, expected)
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    # CHW float works the same way.
    assert torch.equal(module(x[1]), expected[1])


def test_orders_and_options(batch: torch.Tensor) -> None:
    image = batch[2]
    flip_webp = WebPFlip(order="flip-webp", workers=1)(image)
    assert torch.equal(flip_webp, formula_chw(image, order="flip-webp"))
    assert not torch.equal(flip_webp, WebPFlip(workers=1)(image))
    vertical = WebPFlip(flip="vertical", workers=1)(image)
    assert torch.equal(vertical, formula_chw(image, flip="vertical"))
    q30 = WebPFlip(quality=30, workers=1)(image)
    assert torch.equal(q30, formula_chw(image, quality=30))
    assert torch.equal(WebPFlip(flip=None, workers=1)(image), formula_chw(image, flip=None))
    # Flip only: no compression at all, so exactly torch.flip.
    assert torch.equal(WebPFlip(webp=False)(batch), torch.flip(batch, dims=(-1,)))


@pytest.mark.parametrize("channels", [1, 4])
def test_gray_and_rgba_channels(batch: torch.Tensor, channels: int) -> None:
    if channels == 1:
        image = batch[0].float().mean(0, keepdim=True).round().to(torch.uint8)
    else:
        alpha = torch.full_like(batch[0][:1], 255)
        alpha[:, :10] = 90  # some translucent rows
        image = torch.cat([batch[0], alpha])
    out = WebPFlip(workers=1)(image)
    assert out.shape == image.shape and out.dtype == torch.uint8
    assert torch.equal(out, formula_chw(image))


def test_workers_one_and_two_agree(batch: torch.Tensor, monkeypatch) -> None:
    import lltd.torch as module_under_test

    serial = WebPFlip(workers=1)(batch)
    threads: set[str] = set()
    both_working = threading.Event()
    real = module_under_test.apply_array

    def spy(*args):
        threads.add(threading.current_thread().name)
        if len(threads) >= 2:
            both_working.set()
        # The first image waits until a second thread takes one (a minute at most: with a single
        # thread it never comes, and the assertion below says so).
        if not both_working.wait(60):
            both_working.set()  # only one thread: let the rest through, the assertion fails
        return real(*args)

    monkeypatch.setattr(module_under_test, "apply_array", spy)
    assert torch.equal(WebPFlip(workers=2)(batch), serial)
    assert len(threads) == 2  # the batch really was shared between two threads


def test_pickle_and_deepcopy(batch: torch.Tensor) -> None:
    module = WebPFlip(quality=50, order="flip-webp", workers=2)
    expected = module(batch)
    for clone in (pickle.loads(pickle.dumps(module)), copy.deepcopy(module)):
        assert (clone.quality, clone.order, clone.workers) == (50, "flip-webp", 2)
        assert torch.equal(clone(batch), expected)
    assert torch.equal(module(batch), expected)  # the original still works


def test_non_contiguous_input(batch: torch.Tensor) -> None:
    view = batch.permute(0, 1, 3, 2)[:, :, :32, :24]  # a strided view, not contiguous
    out = WebPFlip(workers=1)(view)
    assert torch.equal(out, torch.stack([formula_chw(image.contiguous()) for image in view]))


@pytest.mark.parametrize(
    ("tensor", "error", "match"),
    [
        (torch.zeros(8, 8, dtype=torch.uint8), ValueError, "CHW or NCHW"),
        (torch.zeros(1, 1, 3, 8, 8, dtype=torch.uint8), ValueError, "CHW or NCHW"),
        (torch.zeros(2, 8, 8, dtype=torch.uint8), ValueError, "channels"),
        (torch.zeros(8, 8, 3, dtype=torch.uint8), ValueError, "channels"),  # HWC by mistake
        (torch.zeros(3, 8, 8, dtype=torch.int32), TypeError, "uint8 or float"),
        (torch.zeros(3, 8, 8, dtype=torch.bool), TypeError, "uint8 or float"),
    ],
)
def test_bad_tensors_raise_clear_errors(
    tensor: torch.Tensor, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        WebPFlip(workers=1)(tensor)


def test_bad_options_raise_clear_errors(recwarn: pytest.WarningsRecorder) -> None:
    with pytest.raises(ValueError, match="flip"):
        WebPFlip(flip="diagonal")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="order"):
        WebPFlip(order="both")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="quality"):
        WebPFlip(quality=101)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_cuda_tensors_come_back_on_the_device(batch: torch.Tensor, dtype: torch.dtype) -> None:
    x = batch if dtype == torch.uint8 else batch.to(dtype) / 255
    module = WebPFlip(workers=1)
    out = module(x.cuda())
    assert out.device == x.cuda().device and out.dtype == dtype and out.shape == x.shape
    assert torch.equal(out.cpu(), module(x))
    assert torch.equal(module(x[0].cuda()).cpu(), module(x[0]))  # CHW too
