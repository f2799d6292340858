"""The evaluation: clean, attacked and defended accuracy of one classifier on one labelled set.

Oblivious setting (the paper's): each attack is computed once against the undefended model, its
result is quantised to 8 bits as a saved PNG would be, and every defense is applied to those same
images. ``adaptive`` adds BPDA + PGD against each defended model end to end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lltd.attack.attacks import ATTACKS, default_epsilon, is_bounded, run_attack
from lltd.attack.run import QUANTIZATION_SCALES
from lltd.errors import UsageError
from lltd.evaluate.bpda import DefendedModel, to_pixels, to_uint8
from lltd.evaluate.data import Dataset
from lltd.evaluate.defenses import (
    Defense,
    DefenseParameters,
    decode,
    jpeg_bytes,
    make_defense,
    webp_bytes,
)
from lltd.limits import DEFAULT_MAX_PIXELS

#: Attack iterations: (full run, --quick). CW runs 5 binary-search rounds of these steps.
STEPS: dict[str, tuple[int, int]] = {
    "deepfool": (50, 20),
    "fgsm": (1, 1),
    "bim": (10, 5),
    "pgd": (40, 10),
    "cw": (20, 10),
}
ADAPTIVE = "pgd-bpda"
DEFAULT_ATTACKS = ("deepfool", "fgsm", "pgd", "cw")
QUICK_IMAGES = 60
_BATCH = 120
# Small attack batches: DeepFool and CW iterate until the slowest image of a batch is done.
_ATTACK_BATCH = 48

Progress = Callable[[str], None]


@dataclass(frozen=True)
class EvaluateOptions:
    attacks: Sequence[str] = DEFAULT_ATTACKS
    defenses: Sequence[Defense] = ()
    parameters: DefenseParameters = field(default_factory=DefenseParameters)
    epsilon: float | None = None
    adaptive: bool = False
    sweep_qualities: Sequence[int] = ()
    quick: bool = False
    seed: int = 0

    def steps(self, attack: str) -> int:
        full, quick = STEPS[attack]
        return quick if self.quick else full

    def epsilon_for(self, attack: str) -> float | None:
        if not is_bounded(attack):
            return None
        return default_epsilon(attack) if self.epsilon is None else self.epsilon

    def validate(self) -> None:
        unknown = [name for name in self.attacks if name != "none" and name not in ATTACKS]
        if unknown:
            raise UsageError(
                f"unknown attack {unknown[0]!r}; choose from {', '.join(ATTACKS)} (or none)"
            )
        if self.epsilon is not None and not 0 < self.epsilon <= 1:
            raise UsageError(f"--epsilon is an L-inf budget in (0, 1], not {self.epsilon}")
        for quality in self.sweep_qualities:
            if not 1 <= quality <= 100:
                raise UsageError(f"--sweep-quality values must be 1..100, not {quality}")


@dataclass
class Row:
    attack: str
    defense: str
    accuracy: float
    restored: float | None
    n: int


@torch.no_grad()
def predict(model: nn.Module, images: np.ndarray) -> np.ndarray:
    """Top-1 classes of N x H x W x 3 uint8 images."""
    device = next(model.parameters()).device
    out = [
        model(to_pixels(images[i : i + _BATCH]).to(device)).argmax(1).cpu().numpy()
        for i in range(0, len(images), _BATCH)
    ]
    return np.concatenate(out)


def attack_images(
    model: nn.Module, data: Dataset, attack: str, epsilon: float | None, steps: int, seed: int
) -> np.ndarray:
    """The attack's adversarial images against ``model``, quantised to 8 bits."""
    out = []
    for start in range(0, len(data), _ATTACK_BATCH):
        batch = slice(start, start + _ATTACK_BATCH)
        result = run_attack(
            model,
            to_pixels(data.images[batch]),
            torch.from_numpy(data.labels[batch]),
            attack,
            epsilon,
            seed + start,
            steps=steps,
        )
        clean = data.images[batch]
        adversarial = to_uint8(result.adversarial)
        if not is_bounded(attack):
            adversarial = _stretch(model, clean, adversarial, data.labels[batch])
        out.append(adversarial)
    return np.concatenate(out)


def _stretch(
    model: nn.Module, clean: np.ndarray, adversarial: np.ndarray, labels: np.ndarray
) -> np.ndarray:
    """Minimal-norm attacks stop just past the decision boundary, where rounding to 8 bits often
    undoes them: stretch each perturbation by the first scale that survives rounding, as ``lltd
    attack`` does before saving (:data:`lltd.attack.run.QUANTIZATION_SCALES`)."""
    delta = adversarial.astype(np.float32) - clean.astype(np.float32)
    chosen = adversarial.copy()
    pending = np.ones(len(clean), dtype=bool)
    for scale in QUANTIZATION_SCALES:
        candidate = np.clip(np.round(clean + scale * delta), 0, 255).astype(np.uint8)
        fooled = pending & (predict(model, candidate) != labels)
        chosen[fooled] = candidate[fooled]
        pending &= ~fooled
        if not pending.any():
            break
    return chosen


def _row(
    attack: str, defense: str, predictions: np.ndarray, labels: np.ndarray, fooled: np.ndarray
) -> Row:
    correct = predictions == labels
    restored = float(correct[fooled].mean()) if fooled.any() else None
    return Row(attack, defense, float(correct.mean()), restored, len(labels))


def _perturbation(clean: np.ndarray, adversarial: np.ndarray) -> dict[str, float]:
    delta = (adversarial.astype(np.float32) - clean.astype(np.float32)) / 255
    flat = delta.reshape(len(delta), -1)
    return {
        "mean_linf": float(np.abs(flat).max(axis=1).mean()),
        "mean_l2": float(np.linalg.norm(flat, axis=1).mean()),
    }


def evaluate(
    model: nn.Module, data: Dataset, options: EvaluateOptions, progress: Progress | None = None
) -> dict[str, Any]:
    """Run everything ``options`` asks for; returns the report body (rows, attacks, sweep)."""
    options.validate()
    say = progress or (lambda message: None)
    model.eval()
    labels = data.labels
    sets: dict[str, np.ndarray] = {"none": data.images}
    attacks: list[dict[str, Any]] = []
    for name in options.attacks:
        if name == "none":
            continue
        started = time.monotonic()
        steps = options.steps(name)
        epsilon = options.epsilon_for(name)
        say(f"attack {name} ({len(data)} images, {steps} steps)")
        adversarial = attack_images(model, data, name, epsilon, steps, options.seed)
        sets[name] = adversarial
        fooled = predict(model, adversarial) != labels
        attacks.append(
            {
                "attack": name,
                "epsilon": epsilon,
                "steps": steps,
                "fooled": float(fooled.mean()),
                **_perturbation(data.images, adversarial),
                "seconds": round(time.monotonic() - started, 2),
            }
        )

    rows: list[Row] = []
    say(f"defenses ({len(options.defenses)} x {len(sets)} image sets)")
    for name, images in sets.items():
        fooled = predict(model, images) != labels
        for defense in options.defenses:
            rows.append(
                _row(name, defense.name, predict(model, defense.batch(images)), labels, fooled)
            )

    if options.adaptive:
        rows += _adaptive(model, data, options, attacks, say)

    sweep = _sweep(model, sets, labels, options, say) if options.sweep_qualities else []
    return {
        "rows": [vars(row) for row in rows],
        "attacks": attacks,
        "sweep": sweep,
    }


def _adaptive(
    model: nn.Module,
    data: Dataset,
    options: EvaluateOptions,
    attacks: list[dict[str, Any]],
    say: Progress,
) -> list[Row]:
    rows: list[Row] = []
    epsilon = options.epsilon_for("pgd")
    steps = options.steps("pgd")
    for defense in options.defenses:
        if defense.name == "none":
            continue  # BPDA against no defense is plain PGD, already in the oblivious rows
        started = time.monotonic()
        say(f"attack {ADAPTIVE} against {defense.label} ({len(data)} images, {steps} steps)")
        defended = DefendedModel(model, defense, options.parameters).eval()
        adversarial = attack_images(defended, data, "pgd", epsilon, steps, options.seed)
        fooled = predict(model, adversarial) != data.labels
        predictions = predict(model, defense.batch(adversarial))
        rows.append(_row(ADAPTIVE, defense.name, predictions, data.labels, fooled))
        attacks.append(
            {
                "attack": ADAPTIVE,
                "against": defense.name,
                "epsilon": epsilon,
                "steps": steps,
                "fooled": float((predictions != data.labels).mean()),
                **_perturbation(data.images, adversarial),
                "seconds": round(time.monotonic() - started, 2),
            }
        )
    return rows


def _sweep(
    model: nn.Module,
    sets: dict[str, np.ndarray],
    labels: np.ndarray,
    options: EvaluateOptions,
    say: Progress,
) -> list[dict[str, Any]]:
    say(f"quality sweep ({len(options.sweep_qualities)} qualities x webp, jpeg)")
    out: list[dict[str, Any]] = []
    codecs: dict[str, Callable[[np.ndarray, int], bytes]] = {"webp": webp_bytes, "jpeg": jpeg_bytes}
    for codec, encode in codecs.items():
        for quality in options.sweep_qualities:
            for name, images in sets.items():
                encoded = [encode(image, quality) for image in images]
                decoded = np.stack([decode(data) for data in encoded])
                accuracy = float((predict(model, decoded) == labels).mean())
                out.append(
                    {
                        "codec": codec,
                        "quality": quality,
                        "attack": name,
                        "accuracy": accuracy,
                        "mean_bytes": float(np.mean([len(data) for data in encoded])),
                        "n": len(labels),
                    }
                )
    return out


def parse_list(text: str, what: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise UsageError(f"{what} is empty")
    return list(dict.fromkeys(items))


def parse_qualities(text: str) -> list[int]:
    try:
        return [int(item) for item in parse_list(text, "--sweep-quality")]
    except ValueError:
        raise UsageError(
            f"--sweep-quality takes integers like 10,20,...,100, not {text!r}"
        ) from None


def default_defenses(parameters: DefenseParameters) -> list[Defense]:
    from lltd.evaluate.defenses import DEFENSES

    return [make_defense(name, parameters) for name in DEFENSES]


def evaluate_model(
    model: str,
    weights: str | None,
    data_dir: Path | None,
    options: EvaluateOptions,
    *,
    device: str = "cpu",
    limit: int | None = None,
    synsets: Path | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Load ``model`` and the data (the reference test split by default for ``reference``),
    evaluate, and return the full report (see :func:`lltd.evaluate.report.write_report`)."""
    from lltd.evaluate import data as datasets
    from lltd.models import REFERENCE_MODEL, load_pixel_classifier

    say = progress or (lambda message: None)
    options.validate()
    started = time.monotonic()
    timings: dict[str, float] = {}
    spec = model
    if model == REFERENCE_MODEL:
        from lltd.evaluate import reference

        if weights == "DEFAULT":
            reference.load_reference_model(progress=say)  # trains once, with progress lines
        else:
            spec = reference.FACTORY  # the same network with other weights (a file, or random)
        timings["model"] = round(time.monotonic() - started, 2)
    elif data_dir is None:
        raise UsageError("--data is required unless --model reference")
    classifier = load_pixel_classifier(spec, weights, device, synsets)
    if data_dir is None:
        dataset = datasets.reference_data()
    else:
        dataset = datasets.load_folder(data_dir, classifier.classes, classifier.size, max_pixels)
    dataset = dataset.subset(
        limit if limit is not None else (QUICK_IMAGES if options.quick else None)
    )
    loaded = time.monotonic()
    say(f"evaluating {model} on {dataset.source} ({len(dataset)} images)")
    body = evaluate(classifier.model, dataset, options, progress)
    timings["evaluate"] = round(time.monotonic() - loaded, 2)
    timings["total"] = round(time.monotonic() - started, 2)
    report: dict[str, Any] = {
        "model": model,
        "weights": classifier.weights,
        "data": dataset.source,
        "n_images": len(dataset),
        "classes": len(classifier.classes),
        **body,
        "skipped": dataset.skipped,
        "parameters": {
            "attacks": [name for name in options.attacks if name != "none"],
            "defenses": [defense.name for defense in options.defenses],
            "defense_labels": {defense.name: defense.label for defense in options.defenses},
            "webp_quality": options.parameters.webp_quality,
            "jpeg_quality": options.parameters.jpeg_quality,
            "bits": options.parameters.bits,
            "median_size": options.parameters.median_size,
            "epsilon": options.epsilon_for("pgd"),
            "steps": {name: options.steps(name) for name in options.attacks if name in STEPS},
            "adaptive": options.adaptive,
            "sweep_qualities": list(options.sweep_qualities),
            "quick": options.quick,
            "seed": options.seed,
            "device": classifier.device,
            "torch_threads": torch.get_num_threads(),
        },
        "timings_s": timings,
    }
    if model == REFERENCE_MODEL:
        from lltd.evaluate import reference

        report["reference_code_hash"] = reference.code_hash()
    return report
