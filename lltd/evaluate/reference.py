"""The reference task: a small, fixed, offline benchmark for ``lltd evaluate --model reference``.

Twelve classes, one per photograph that scikit-image ships inside its wheel (no download): a class
is "a crop of this photograph". Each photograph is resized to 320 x 320 and cut into a 4 x 4 grid
of 80-pixel cells; the cells of one checkerboard colour give the training crops, the others the test
crops, so no test pixel was ever seen in training. Crops are 64 x 64 RGB in [0, 1]; the model
normalises internally (:class:`lltd.models.Normalized` with the ImageNet statistics), like the
torchvision models the same command evaluates.

FROZEN. The data, the architecture and the training recipe below were chosen on clean test
accuracy alone (target >= 90 %), before any defense or attack was run against the model; they
must not be changed to make any defense look better or worse. Any change to this file changes the
cache key, so the model is retrained and the published figures must be regenerated.

The trained weights are cached under ``lltd.fs.paths.cache_dir()/reference/`` in a file named after
a hash of this file (and the library versions that shape the data), and loaded back through the same
state_dict mechanism as ``--weights PATH`` (``lltd.models.load_classifier`` with the factory
``lltd.evaluate.reference:build_model``).
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from lltd.common.errors import LltdError
from lltd.fs.atomic import write_bytes_atomic
from lltd.fs.paths import cache_dir
from lltd.models.loading import load_classifier
from lltd.models.pixels import Normalized

#: scikit-image loader name per class, in class-index order (gray photographs become 3 channels).
_SOURCES = (
    "astronaut",
    "brick",
    "camera",
    "chelsea",
    "coffee",
    "coins",
    "grass",
    "gravel",
    "hubble_deep_field",
    "immunohistochemistry",
    "moon",
    "rocket",
)
CLASS_NAMES: tuple[str, ...] = _SOURCES
INPUT_SIZE = 64
FACTORY = f"{__name__}:build_model"

_SIDE = 320  # each photograph, resized (shorter side) and centre-cropped
_CELL = 80  # grid cell; a crop never crosses a cell border, so train and test pixels are disjoint
_GRID = _SIDE // _CELL
_TEST_OFFSETS = ((0, 0), (8, 8), (16, 16))  # crop corners inside a test cell
_SEED = 20200
_EPOCHS = 8
_PER_CLASS_PER_EPOCH = 160
_BATCH = 64
_LR = 3e-3
_THREADS = 2


def _cells(split: str) -> list[tuple[int, int]]:
    parity = {"train": 0, "test": 1}[split]
    return [(r, c) for r in range(_GRID) for c in range(_GRID) if (r + c) % 2 == parity]


@cache
def _photograph(name: str) -> np.ndarray:
    """``_SIDE`` x ``_SIDE`` x 3 uint8 from scikit-image's bundled data (never the network)."""
    import skimage.data

    try:
        array = np.asarray(getattr(skimage.data, name)())
    except Exception as exc:  # pooch raises anything from a missing file upwards
        raise LltdError(
            f"the reference task needs scikit-image's bundled image {name!r}, which did not "
            f"load ({type(exc).__name__}: {str(exc).strip()[:120]})"
        ) from None
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    image = Image.fromarray(array[..., :3].astype(np.uint8))
    width, height = image.size
    scale = _SIDE / min(width, height)
    image = image.resize(
        (max(_SIDE, round(width * scale)), max(_SIDE, round(height * scale))),
        Image.Resampling.LANCZOS,
    )
    width, height = image.size
    left, top = (width - _SIDE) // 2, (height - _SIDE) // 2
    return np.asarray(image.crop((left, top, left + _SIDE, top + _SIDE)))


def reference_dataset(split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """The fixed crops of ``split`` ("train" or "test"): N x 64 x 64 x 3 uint8 and N int64 labels.

    Test: 3 crops in each of the 8 test cells of each photograph (24 per class, 288 in all).
    Train: the same fixed positions in the training cells (training itself draws random,
    augmented crops from those cells).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    images: list[np.ndarray] = []
    labels: list[int] = []
    for label, name in enumerate(_SOURCES):
        photo = _photograph(name)
        for row, col in _cells(split):
            for dy, dx in _TEST_OFFSETS:
                top, left = row * _CELL + dy, col * _CELL + dx
                images.append(photo[top : top + INPUT_SIZE, left : left + INPUT_SIZE])
                labels.append(label)
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def _augmented_epoch(rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random crops (56-80 px, resized to 64) of the training cells, mirrored half of the time
    (as ImageNet training does), with mild brightness and contrast jitter."""
    cells = _cells("train")
    images: list[np.ndarray] = []
    labels: list[int] = []
    for label, name in enumerate(_SOURCES):
        photo = _photograph(name)
        for _ in range(_PER_CLASS_PER_EPOCH):
            row, col = cells[rng.integers(len(cells))]
            size = int(rng.integers(56, _CELL + 1))
            top = row * _CELL + int(rng.integers(0, _CELL - size + 1))
            left = col * _CELL + int(rng.integers(0, _CELL - size + 1))
            crop = Image.fromarray(photo[top : top + size, left : left + size])
            if size != INPUT_SIZE:
                crop = crop.resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.BILINEAR)
            pixels = np.asarray(crop, dtype=np.float32) / 255
            if rng.random() < 0.5:
                pixels = pixels[:, ::-1]
            contrast, brightness = rng.uniform(0.8, 1.2), rng.uniform(-0.1, 0.1)
            images.append(np.clip((pixels - 0.5) * contrast + 0.5 + brightness, 0, 1))
            labels.append(label)
    batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    return batch, torch.tensor(labels)


def _block(inputs: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 3, padding=1, bias=False),
        nn.BatchNorm2d(outputs),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


def build_model() -> nn.Module:
    """The reference CNN, untrained, expecting normalised input (four conv blocks, ~100k weights).

    Carries ``input_size`` and ``categories`` so ``lltd attack --model
    lltd.evaluate.reference:build_model --weights FILE`` works on it too.
    """
    model = nn.Sequential(
        _block(3, 16),
        _block(16, 32),
        _block(32, 64),
        _block(64, 128),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(128, len(_SOURCES)),
    )
    model.input_size = INPUT_SIZE  # type: ignore[assignment]
    model.categories = CLASS_NAMES  # type: ignore[assignment]
    return model


def code_hash() -> str:
    """Key of the cached weights: this file's text and the versions that shape data and training."""
    import skimage

    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(f"skimage={skimage.__version__} torch={torch.__version__}".encode())
    return digest.hexdigest()[:16]


def weights_path() -> Path:
    return cache_dir() / "reference" / f"reference-{code_hash()}.pt"


def train(destination: Path | None = None, progress: Callable[[str], None] | None = None) -> Path:
    """Train the reference CNN from scratch (deterministic, 2 threads) and save its state_dict."""
    destination = weights_path() if destination is None else destination
    threads = torch.get_num_threads()
    torch.set_num_threads(_THREADS)
    started = time.monotonic()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_SEED)
            rng = np.random.default_rng(_SEED)
            model = Normalized(build_model())
            steps_per_epoch = -(-_PER_CLASS_PER_EPOCH * len(_SOURCES) // _BATCH)
            optimizer = torch.optim.AdamW(model.parameters(), lr=_LR, weight_decay=1e-4)
            schedule = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, _LR, total_steps=_EPOCHS * steps_per_epoch
            )
            for epoch in range(_EPOCHS):
                images, labels = _augmented_epoch(rng)
                order = torch.randperm(len(labels))
                model.train()
                for start in range(0, len(order), _BATCH):
                    index = order[start : start + _BATCH]
                    loss = F.cross_entropy(model(images[index]), labels[index])
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    schedule.step()
                if progress is not None:
                    progress(
                        f"reference model: epoch {epoch + 1}/{_EPOCHS}, loss {loss.item():.3f}, "
                        f"{time.monotonic() - started:.0f} s"
                    )
    finally:
        torch.set_num_threads(threads)
    buffer = io.BytesIO()
    torch.save(model.model.state_dict(), buffer)
    write_bytes_atomic(destination, buffer.getvalue())
    return destination


def load_reference_model(
    device: str = "cpu",
    *,
    train_if_missing: bool = True,
    progress: Callable[[str], None] | None = None,
) -> nn.Module:
    """The trained reference CNN in eval mode, taking N x 3 x 64 x 64 pixels in [0, 1].

    Trains it first (under 3 minutes on 2 cores) when the cache has no weights for this code.
    """
    path = weights_path()
    if not path.is_file():
        if not train_if_missing:
            raise LltdError(f"no trained reference model at {path}")
        if progress is not None:
            progress(f"training the reference model once (cached in {path.parent})")
        path.parent.mkdir(parents=True, exist_ok=True)
        train(path, progress)
    return Normalized(load_classifier(FACTORY, path, device)).to(device).eval()


@torch.no_grad()
def accuracy(model: nn.Module, images: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy of ``model`` on N x H x W x 3 uint8 ``images``."""
    pixels = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    device = next(model.parameters()).device
    predictions = torch.cat(
        [model(chunk.to(device)).argmax(1).cpu() for chunk in pixels.split(256)]
    )
    return float((predictions.numpy() == labels).mean())
