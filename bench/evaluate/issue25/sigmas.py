"""Issue 25, item 4: WebP q60 at 8/255 on the 288 reference crops. Per image, the union of
oblivious FGSM and PGD and eight 200-step BPDA-PGD runs whose Gaussian surrogate width varies
between runs (each run attacks only what is still standing).

From the repository root: ``python bench/evaluate/issue25/sigmas.py`` (about 8 CPU minutes;
writes ``sigmas-standing.npy``, the images left; the figures are in bench/evaluate/README.md).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from lltd.attack.catalog import spec
from lltd.common.allocator import keep_freed_memory
from lltd.evaluate import reference
from lltd.evaluate.adaptive import defended_predictions
from lltd.evaluate.data import Dataset
from lltd.evaluate.defenses import DefenseParameters, make_defense
from lltd.evaluate.oblivious import attack_images
from lltd.evaluate.pgd import pgd

EPSILON = 8 / 255
#: (loss, surrogate sigma, random start, seed) of each 200-step run, in order.
RUNS = (
    ("ce", 1.5, False, 0),
    ("margin", 1.5, False, 7),
    ("ce", 0.7, False, 0),
    ("margin", 0.7, False, 7),
    ("ce", 3.0, False, 0),
    ("margin", 3.0, False, 7),
    ("ce", 1.0, True, 1009),
    ("margin", 2.0, True, 1016),
)


def main() -> None:
    keep_freed_memory()
    torch.set_num_threads(1)
    started = time.process_time()
    model = reference.load_reference_model()
    images, labels = reference.reference_dataset("test")
    webp = make_defense("webp", DefenseParameters())
    standing = defended_predictions(model, webp, images) == labels
    alone = {"clean": int(standing.sum())}
    data = Dataset(images, labels, "reference:test")
    for name in ("fgsm", "pgd"):
        adversarial = attack_images(model, data, name, EPSILON, spec(name).settings(False), 0)
        right = defended_predictions(model, webp, adversarial) == labels
        alone[name] = int(right.sum())
        standing &= right
    print("oblivious", alone, "standing", int(standing.sum()), flush=True)
    for loss, sigma, random_start, seed in RUNS:
        index = np.flatnonzero(standing)
        result = pgd(
            model, webp, images[index], labels[index], EPSILON, steps=200, loss=loss,
            random_start=random_start, seed=seed, sigma=sigma,
        )  # fmt: skip
        right = defended_predictions(model, webp, result.adversarial, index) == labels[index]
        standing[index[~right]] = False
        print(
            f"{loss} sigma {sigma} random {random_start}: broke {int((~right).sum())} of "
            f"{len(index)}; standing {int(standing.sum())} = {100 * standing.mean():.1f} %; "
            f"cpu {time.process_time() - started:.0f} s",
            flush=True,
        )
    np.save("sigmas-standing.npy", standing)


if __name__ == "__main__":
    main()
