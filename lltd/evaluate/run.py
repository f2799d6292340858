"""The evaluation: clean, attacked and defended accuracy of one classifier on one labelled set.

Oblivious setting (the paper's): each attack is computed once against the undefended model, its
result is quantised to 8 bits as a saved PNG would be, and every defense is applied to those same
images; precomputed adversarial images (``--adversarial``) are evaluated the same way. Adaptive
setting (``adaptive``): :mod:`lltd.evaluate.adaptive` attacks each defended model end to end, and
:mod:`lltd.evaluate.sanity` checks those attacks. Each defense's headline is its worst case.
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

from lltd.attack.catalog import (
    ATTACKS,
    DEFAULT_EVALUATE_ATTACKS,
    check_epsilon,
    is_bounded,
    spec,
)
from lltd.common.errors import UsageError
from lltd.common.limits import DEFAULT_MAX_PIXELS
from lltd.evaluate import sanity
from lltd.evaluate.adaptive import (
    BPDA,
    SQUARE,
    AdaptiveSettings,
    DefenseAttack,
    attack_defense,
    defended_predictions,
)
from lltd.evaluate.data import Dataset
from lltd.evaluate.defenses import Defense, DefenseParameters
from lltd.evaluate.oblivious import attack_images, perturbation, predict
from lltd.evaluate.stats import worst_case
from lltd.evaluate.sweep import sweep

QUICK_IMAGES = 60
#: The defense the epsilon sanity check runs on, when it is evaluated (the project's own).
MAIN_DEFENSE = "webp+flip"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class EvaluateOptions:
    attacks: Sequence[str] = DEFAULT_EVALUATE_ATTACKS
    defenses: Sequence[Defense] = ()
    parameters: DefenseParameters = field(default_factory=DefenseParameters)
    epsilon: float | None = None
    adaptive: bool = False
    #: Overrides of the adaptive settings (steps, restarts, eot, square_queries) where not None.
    adaptive_steps: int | None = None
    restarts: int | None = None
    eot: int | None = None
    square_queries: int | None = None
    sweep_qualities: Sequence[int] = ()
    quick: bool = False
    seed: int = 0

    def attack_settings(self, attack: str) -> dict[str, int]:
        """Steps (and DeepFool's candidates) of an oblivious attack, from the catalog."""
        return spec(attack).settings(self.quick)

    def steps(self, attack: str) -> int:
        return self.attack_settings(attack)["steps"]

    def epsilon_for(self, attack: str) -> float | None:
        """The budget ``attack`` runs with: --epsilon applies to the attacks that take one;
        DeepFool and C&W find a minimal perturbation and ignore it."""
        return check_epsilon(attack, self.epsilon if is_bounded(attack) else None)

    def linf_epsilon(self) -> float:
        return check_epsilon("pgd", self.epsilon) or 0.0

    def adaptive_settings(self) -> AdaptiveSettings:
        base = (
            AdaptiveSettings.quick(self.linf_epsilon(), self.seed)
            if self.quick
            else AdaptiveSettings(self.linf_epsilon(), seed=self.seed)
        )
        overrides = {
            "steps": self.adaptive_steps,
            "restarts": self.restarts,
            "eot": self.eot,
            "square_queries": self.square_queries,
        }
        return AdaptiveSettings(**{**vars(base), **{k: v for k, v in overrides.items() if v}})

    def validate(self) -> None:
        unknown = [name for name in self.attacks if name != "none" and name not in ATTACKS]
        if unknown:
            raise UsageError(
                f"unknown attack {unknown[0]!r}; choose from {', '.join(ATTACKS)} (or none)"
            )
        self.linf_epsilon()
        attacks = [name for name in self.attacks if name in ATTACKS]
        if self.epsilon is not None and not self.adaptive and not any(map(is_bounded, attacks)):
            raise UsageError(
                f"--epsilon {self.epsilon:g}: none of the attacks ({', '.join(attacks) or 'none'})"
                " takes a budget; add fgsm, bim or pgd, or --adaptive"
            )
        for name, value in (("--restarts", self.restarts), ("--eot", self.eot)):
            if value is not None and value < 1:
                raise UsageError(f"{name} must be at least 1, not {value}")


@dataclass
class Row:
    attack: str
    defense: str
    accuracy: float
    restored: float | None
    n: int


def _row(
    attack: str, defense: str, predictions: np.ndarray, labels: np.ndarray, fooled: np.ndarray
) -> Row:
    correct = predictions == labels
    restored = float(correct[fooled].mean()) if fooled.any() else None
    return Row(attack, defense, float(correct.mean()), restored, len(labels))


ImageSet = tuple[np.ndarray, np.ndarray]


def evaluate(
    model: nn.Module,
    data: Dataset | None,
    options: EvaluateOptions,
    progress: Progress | None = None,
    *,
    precomputed: dict[str, Dataset] | None = None,
) -> dict[str, Any]:
    """Run everything ``options`` asks for; returns the report body (rows, attacks, sweep...)."""
    options.validate()
    say = progress or (lambda message: None)
    model.eval()
    sets: dict[str, ImageSet] = {}
    attacks: list[dict[str, Any]] = []
    if data is not None:
        sets["none"] = (data.images, data.labels)
        for name in options.attacks:
            if name != "none":
                sets[name] = _oblivious(model, data, options, name, attacks, say)
    for name, adversarial in (precomputed or {}).items():
        sets[name] = (adversarial.images, adversarial.labels)
        fooled = predict(model, adversarial.images) != adversarial.labels
        attacks.append(
            {"attack": name, "epsilon": None, "steps": None, "fooled": float(fooled.mean()),
             "source": adversarial.source, "seconds": 0.0}
        )  # fmt: skip

    rows: list[Row] = []
    say(f"defenses ({len(options.defenses)} x {len(sets)} image sets)")
    for name, (images, labels) in sets.items():
        fooled = predict(model, images) != labels
        for defense in options.defenses:
            predictions = defended_predictions(model, defense, images)
            rows.append(_row(name, defense.name, predictions, labels, fooled))

    checks: list[sanity.Check] = []
    curves: dict[str, Any] = {}
    settings = options.adaptive_settings()
    if options.adaptive and data is not None:
        rows += _adaptive(model, data, options, settings, attacks, checks, curves, say)

    quality_sweep = (
        sweep(model, sets, options.sweep_qualities, say) if options.sweep_qualities else []
    )
    body_rows = [vars(row) for row in rows]
    return {
        "rows": body_rows,
        "worst_case": worst_case(body_rows),
        "attacks": attacks,
        "sweep": quality_sweep,
        "adaptive": settings.as_dict() if options.adaptive else None,
        "sanity": [check.as_dict() for check in checks],
        "sanity_passed": all(check.passed for check in checks),
        "curves": curves,
    }


def _oblivious(
    model: nn.Module,
    data: Dataset,
    options: EvaluateOptions,
    name: str,
    attacks: list[dict[str, Any]],
    say: Progress,
) -> ImageSet:
    started = time.monotonic()
    settings, epsilon = options.attack_settings(name), options.epsilon_for(name)
    steps = settings["steps"]
    detail = "".join(f", {value} {key}" for key, value in settings.items() if key != "steps")
    say(f"attack {name} ({len(data)} images, {steps} steps{detail})")
    from lltd.common.progress import Ticker

    ticker = Ticker(len(data), f"attack {name}", say, unit="images")  # a line every 10 s
    adversarial = attack_images(model, data, name, epsilon, settings, options.seed, ticker.update)
    fooled = predict(model, adversarial) != data.labels
    attacks.append(
        {
            "attack": name,
            "epsilon": epsilon,
            "steps": steps,
            "fooled": float(fooled.mean()),
            **perturbation(data.images, adversarial),
            "seconds": round(time.monotonic() - started, 2),
        }
    )
    return adversarial, data.labels


def _adaptive(
    model: nn.Module,
    data: Dataset,
    options: EvaluateOptions,
    settings: AdaptiveSettings,
    attacks: list[dict[str, Any]],
    checks: list[sanity.Check],
    curves: dict[str, Any],
    say: Progress,
) -> list[Row]:
    rows: list[Row] = []
    images, labels = data.images, data.labels
    say("sanity: BPDA through the identity vs plain PGD")
    checks.append(sanity.identity_check(model, images, labels, settings))
    results: dict[str, DefenseAttack] = {}
    for defense in options.defenses:
        what = f"EOT x{settings.eot}, " if defense.random else ""
        say(
            f"adaptive attacks on {defense.label} ({len(data)} images, {what}{settings.steps} "
            f"steps x {settings.restarts} restarts x {len(settings.losses)} losses, Square "
            f"{settings.square_queries} queries)"
        )
        result = attack_defense(model, defense, images, labels, settings, say)
        results[defense.name] = result
        for name, broken in ((BPDA, result.broken), (SQUARE, result.square_broken)):
            rows.append(Row(name, defense.name, float(1 - broken.mean()), None, len(labels)))
        attacks.append(
            {
                "attack": f"{BPDA} + {SQUARE}",
                "against": defense.name,
                "epsilon": settings.epsilon,
                "steps": settings.steps,
                "fooled": float((result.broken | result.square_broken).mean()),
                "runs": result.runs,
                "seconds": round(result.seconds, 2),
            }
        )
        curves[defense.name] = {"steps": result.steps_curve(settings.steps)}
        checks.append(sanity.steps_check(result, settings.steps))
        checks.append(sanity.square_check(result))
    main = next((d for d in options.defenses if d.name == MAIN_DEFENSE), None) or next(
        (d for d in options.defenses if d.lossy), None
    )
    if main is not None:
        say(f"sanity: accuracy against epsilon on {main.label}")
        check = sanity.epsilon_check(model, main, images, labels, settings, say)
        checks.append(check)
        curves.setdefault(main.name, {})["epsilon"] = check.data
    return rows


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
    adversarial_dirs: Sequence[Path] = (),
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Load ``model`` and the data (the reference test split by default for ``reference``),
    evaluate, and return the full report (see :func:`lltd.evaluate.report.write_report`)."""
    from lltd.evaluate import data as datasets
    from lltd.models import REFERENCE_MODEL, load_pixel_classifier

    say = progress or (lambda message: None)
    options.validate()
    if data_dir is None and model != REFERENCE_MODEL and not adversarial_dirs:
        raise UsageError("--data (or --adversarial) is required unless --model reference")
    started = time.monotonic()
    classifier = load_pixel_classifier(model, weights, device, synsets, progress=say)
    timings = {"model": round(time.monotonic() - started, 2)}
    dataset: Dataset | None = None
    if data_dir is not None:
        dataset = datasets.load_folder(data_dir, classifier.classes, classifier.size, max_pixels)
    elif not adversarial_dirs:
        dataset = datasets.reference_data()
    cap = limit if limit is not None else (QUICK_IMAGES if options.quick else None)
    dataset = dataset.subset(cap) if dataset is not None else None
    precomputed = {
        f"precomputed:{folder.name}": datasets.load_folder(
            folder, classifier.classes, classifier.size, max_pixels, option="--adversarial"
        ).subset(cap)
        for folder in adversarial_dirs
    }
    loaded = time.monotonic()
    sources = [dataset.source] if dataset is not None else []
    sources += [d.source for d in precomputed.values()]
    n_images = len(dataset) if dataset is not None else max(len(d) for d in precomputed.values())
    say(f"evaluating {model} on {', '.join(sources)} ({n_images} images)")
    body = evaluate(classifier.model, dataset, options, progress, precomputed=precomputed)
    timings["evaluate"] = round(time.monotonic() - loaded, 2)
    timings["total"] = round(time.monotonic() - started, 2)
    report: dict[str, Any] = {
        "model": model,
        "weights": classifier.weights,
        "data": ", ".join(sources),
        "n_images": n_images,
        "classes": len(classifier.classes),
        "input_size": classifier.size,
        **body,
        "skipped": (dataset.skipped if dataset is not None else [])
        + [path for d in precomputed.values() for path in d.skipped],
        "parameters": _parameters(options, classifier.device),
        "timings_s": timings,
    }
    if model == REFERENCE_MODEL:
        from lltd.evaluate import reference

        report["reference_code_hash"] = reference.code_hash()
    return report


def _parameters(options: EvaluateOptions, device: str) -> dict[str, Any]:
    attack_settings = {
        name: options.attack_settings(name) for name in options.attacks if name in ATTACKS
    }
    return {
        "attacks": [name for name in options.attacks if name != "none"],
        "defenses": [defense.name for defense in options.defenses],
        "defense_labels": {defense.name: defense.label for defense in options.defenses},
        "randomized": [defense.name for defense in options.defenses if defense.random],
        "webp_quality": options.parameters.webp_quality,
        "quality_range": list(options.parameters.quality_range),
        "resize_pad": options.parameters.resize_pad,
        "jpeg_quality": options.parameters.jpeg_quality,
        "bits": options.parameters.bits,
        "median_size": options.parameters.median_size,
        "epsilon": options.linf_epsilon(),
        "steps": {name: settings["steps"] for name, settings in attack_settings.items()},
        "candidates": {
            name: settings["candidates"]
            for name, settings in attack_settings.items()
            if "candidates" in settings
        },
        "adaptive": options.adaptive,
        "sweep_qualities": list(options.sweep_qualities),
        "quick": options.quick,
        "seed": options.seed,
        "device": device,
        "torch_threads": torch.get_num_threads(),
    }
