"""``lltd.art``: lltd's defense as ART preprocessors (the ``[art]`` extra). ART's own PGD, run
through them, must do what lltd's adaptive BPDA-PGD does to the same defended model."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("art", reason="the [art] extra (adversarial-robustness-toolbox) is missing")

from art.attacks.evasion import ProjectedGradientDescentPyTorch  # noqa: E402
from art.estimators.classification import PyTorchClassifier  # noqa: E402

from lltd.art import LltdPreprocessor, randomized, webp, webp_flip  # noqa: E402
from lltd.evaluate.adaptive import defended_predictions  # noqa: E402
from lltd.evaluate.bpda import surrogate, to_pixels, to_uint8  # noqa: E402
from lltd.evaluate.pgd import pgd  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]


def art_pgd(model, preprocessor: LltdPreprocessor, images, epsilon: float, steps: int, classes):
    """ART's PGD (no random start, steps of epsilon/4) against ``model`` behind the
    preprocessor; the images as the defended system receives them (8 bits)."""
    classifier = PyTorchClassifier(
        model, torch.nn.CrossEntropyLoss(), input_shape=tuple(to_pixels(images[:1]).shape[1:]),
        nb_classes=classes, clip_values=(0.0, 1.0), preprocessing_defences=[preprocessor],
        device_type="cpu",
    )  # fmt: skip
    attack = ProjectedGradientDescentPyTorch(
        classifier, norm=np.inf, eps=epsilon, eps_step=epsilon / 4, max_iter=steps,
        num_random_init=0, batch_size=48, verbose=False,
    )  # fmt: skip
    adversarial = attack.generate(to_pixels(images).numpy())
    return to_uint8(torch.from_numpy(adversarial)), classifier


def surviving(model, defense, adversarial, labels) -> int:
    return int((defended_predictions(model, defense, adversarial) == labels).sum())


@pytest.mark.parametrize("make", [webp, webp_flip], ids=["webp", "webp+flip"])
def test_art_pgd_through_lltd_matches_lltds_adaptive_attack(reference_slice, make) -> None:
    model, images, labels = reference_slice
    epsilon, steps = 8 / 255, 20
    preprocessor = make()
    adversarial, classifier = art_pgd(model, preprocessor, images, epsilon, steps, 12)
    by_art = surviving(model, preprocessor.defense, adversarial, labels)
    ours = pgd(model, preprocessor.defense, images, labels, epsilon, steps=steps).adversarial
    by_lltd = surviving(model, preprocessor.defense, ours, labels)
    clean = surviving(model, preprocessor.defense, images, labels)
    assert abs(by_art - by_lltd) <= 1, (by_art, by_lltd)
    assert by_art < clean - 6  # the attack really went through: most images break
    # ART's predictions go through the real defense: the same classes as lltd's.
    predicted = classifier.predict(to_pixels(adversarial).numpy()).argmax(1)
    assert (predicted == defended_predictions(model, preprocessor.defense, adversarial)).all()


def test_the_preprocessor_is_the_real_defense_forward_and_the_surrogate_backward(
    reference_slice,
) -> None:
    _, images, _ = reference_slice
    preprocessor = webp_flip()
    pixels = to_pixels(images[:4]).numpy()
    out, _ = preprocessor(pixels)
    assert np.array_equal(to_uint8(torch.from_numpy(out)), preprocessor.defense.batch(images[:4]))
    grad = np.random.default_rng(0).standard_normal(pixels.shape).astype(np.float32)
    estimated = preprocessor.estimate_gradient(pixels, grad)
    start = torch.from_numpy(pixels).requires_grad_(True)
    draws = preprocessor.defense.draws(4, None)
    (expected,) = torch.autograd.grad(
        surrogate(preprocessor.defense, start, draws), start, torch.from_numpy(grad)
    )
    assert np.allclose(estimated, expected.numpy(), atol=1e-6)
    assert not np.allclose(estimated, grad)  # not ART's identity default
    with pytest.raises(ValueError, match="N x 3 x H x W"):
        preprocessor.forward(torch.zeros(2, 64, 64, 3))


def test_the_randomised_preprocessor_draws_per_call(reference_slice) -> None:
    _, images, _ = reference_slice
    preprocessor = randomized(seed=3)
    pixels = to_pixels(images[:6]).numpy()
    first, _ = preprocessor(pixels)
    second, _ = preprocessor(pixels)
    assert first.shape == pixels.shape and not np.array_equal(first, second)
    again, _ = randomized(seed=3)(pixels)
    assert np.array_equal(first, again)  # seeded


def test_art_pgd_through_lltd_on_efficientnet_lite0() -> None:
    pytest.importorskip("efficientnet_lite_pytorch", reason="the [imagenet] extra is missing")
    from lltd.evaluate.data import foolbox_samples
    from lltd.models import EFFICIENTNET_LITE0, load_pixel_classifier

    classifier = load_pixel_classifier(EFFICIENTNET_LITE0, device="cpu")
    data = foolbox_samples(classifier.classes, classifier.size).subset(4)
    model, epsilon, steps = classifier.model, 4 / 255, 5
    preprocessor = webp_flip()
    adversarial, _ = art_pgd(model, preprocessor, data.images, epsilon, steps, 1000)
    by_art = surviving(model, preprocessor.defense, adversarial, data.labels)
    ours = pgd(model, preprocessor.defense, data.images, data.labels, epsilon, steps=steps)
    by_lltd = surviving(model, preprocessor.defense, ours.adversarial, data.labels)
    clean = surviving(model, preprocessor.defense, data.images, data.labels)
    assert clean >= 3 and abs(by_art - by_lltd) <= 1, (clean, by_art, by_lltd)
