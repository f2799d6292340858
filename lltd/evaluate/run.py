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
from dataclasses import dataclass, field, replace
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
from lltd.evaluate.data import Dataset, pair, pairing_key
from lltd.evaluate.defenses import Defense, DefenseParameters
from lltd.evaluate.match import match_size
from lltd.evaluate.oblivious import attack_images, perturbation, predict
from lltd.evaluate.stats import wilson, worst_case
from lltd.evaluate.sweep import sweep

QUICK_IMAGES = 60
#: Pixels; the widest BPDA surrogate accepted (wider blurs every detail of a 224-pixel image away).
MAX_SIGMA = 32.0
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
    #: Overrides of the adaptive settings (steps, restarts, eot, square_queries, the BPDA
    #: surrogate's widths) where not None.
    adaptive_steps: int | None = None
    restarts: int | None = None
    eot: int | None = None
    square_queries: int | None = None
    surrogate_sigmas: tuple[float, ...] | None = None
    sweep_qualities: Sequence[int] = ()
    #: Pair each sweep quality's WebP with the JPEG of the same mean size (``--match-size``).
    match_size: bool = False
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
            "surrogate_sigmas": self.surrogate_sigmas,
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
        if self.surrogate_sigmas is not None:
            bad = [s for s in self.surrogate_sigmas if not 0 <= s <= MAX_SIGMA]
            if not self.surrogate_sigmas or bad:
                raise UsageError(
                    f"--surrogate-sigmas: widths must be 0-{MAX_SIGMA:g} px, one or more"
                    + (f", not {bad[0]:g}" if bad else "")
                )


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
#: Images of the stronger-configuration sanity check (evenly spread over the set).
STRONGER_SUBSAMPLE = 64


def _paired(correct: np.ndarray, index: np.ndarray | None, n: int) -> np.ndarray:
    """Per image of the report's set: still right under this attack. ``index``: per image of a
    precomputed set, the clean image it was made from (-1: none); an image is right when every
    adversarial version made from it is (one not attacked by the set counts as right)."""
    if index is None:
        return correct
    out = np.ones(n, dtype=bool)
    made = index >= 0
    np.logical_and.at(out, index[made], correct[made])
    return out


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
    # The per-image worst case needs every attack's images lined up with the clean ones: a
    # precomputed image pairs with the clean image it was made from, by name (without --data,
    # the first precomputed set's images are the report's).
    first = next(iter((precomputed or {}).values()), None)
    base = (
        data.names if data is not None else [pairing_key(n) for n in first.names] if first else []
    )
    n_images = len(data) if data is not None else len(first) if first is not None else 0
    pairing: dict[str, np.ndarray] = {}
    for name, adversarial in (precomputed or {}).items():
        sets[name] = (adversarial.images, adversarial.labels)
        pairing[name] = pair(base, adversarial.names)
        fooled = predict(model, adversarial.images) != adversarial.labels
        attacks.append(
            {"attack": name, "epsilon": None, "steps": None, "fooled": float(fooled.mean()),
             "source": adversarial.source, "seconds": 0.0,
             "paired": int((pairing[name] >= 0).sum()), "images": len(adversarial)}
        )  # fmt: skip

    rows: list[Row] = []
    survival: dict[str, dict[str, np.ndarray]] = {d.name: {} for d in options.defenses}
    say(f"defenses ({len(options.defenses)} x {len(sets)} image sets)")
    for name, (images, labels) in sets.items():
        fooled = predict(model, images) != labels
        for defense in options.defenses:
            predictions = defended_predictions(model, defense, images)
            rows.append(_row(name, defense.name, predictions, labels, fooled))
            if name in pairing and (pairing[name] < 0).any():
                continue  # not all its images pair with clean ones: see _unpaired
            correct = predictions == labels
            survival[defense.name][name] = _paired(correct, pairing.get(name), n_images)

    checks: list[sanity.Check] = []
    curves: dict[str, Any] = {}
    settings = options.adaptive_settings()
    if options.adaptive and data is not None:
        rows += _adaptive(model, data, options, settings, attacks, checks, curves, survival, say)

    quality_sweep = (
        sweep(model, sets, options.sweep_qualities, say) if options.sweep_qualities else []
    )
    body_rows = [vars(row) for row in rows]
    worst = worst_case(body_rows, survival if n_images else None)
    _unpaired(worst, body_rows, [name for name, index in pairing.items() if (index < 0).any()])
    if options.adaptive and data is not None:
        checks += _headline_checks(model, data, options, settings, survival, worst, curves, say)
    matched = (
        match_size(
            model,
            data,
            sets,
            options.sweep_qualities,
            settings if options.adaptive else None,
            say,
        )
        if options.match_size and data is not None
        else None
    )
    return {
        "rows": body_rows,
        "worst_case": worst,
        "survivors": {
            defense: np.flatnonzero(np.logical_and.reduce(list(outcomes.values()))).tolist()
            for defense, outcomes in survival.items()
            if outcomes and n_images
        },
        "attacks": attacks,
        "sweep": quality_sweep,
        "match_size": matched,
        "adaptive": settings.as_dict() if options.adaptive else None,
        "sanity": [check.as_dict() for check in checks],
        "sanity_passed": not any(check.passed is False for check in checks),
        "curves": curves,
        "by_source": _by_source(data, survival) if data is not None else None,
    }


def _unpaired(worst: dict[str, Any], rows: list[dict[str, Any]], names: list[str]) -> None:
    """A precomputed set whose images do not all pair with clean ones cannot join the per-image
    union; the worst case is then at most its row, so it never reads better than that set."""
    for row in rows:
        entry = worst.get(row["defense"])
        if row["attack"] in names and entry and row["accuracy"] < entry["accuracy"]:
            entry.update(
                accuracy=row["accuracy"], attack=row["attack"], n=row["n"],
                interval=list(wilson(row["accuracy"], row["n"])),
            )  # fmt: skip


def _by_source(data: Dataset, survival: dict[str, dict[str, np.ndarray]]) -> dict[str, Any]:
    """Clean accuracy and worst case per joined --data source (one entry when there is one)."""
    origin = data.origin if data.origin is not None else np.zeros(len(data), dtype=int)
    out: dict[str, Any] = {}
    for number, source in enumerate(data.sources):
        mine = origin == number
        out[source] = {
            "n": int(mine.sum()),
            **{
                defense: {
                    "clean": float(outcomes["none"][mine].mean()) if "none" in outcomes else None,
                    "worst": float(np.logical_and.reduce(list(outcomes.values()))[mine].mean()),
                }
                for defense, outcomes in survival.items()
                if outcomes
            },
        }
    return out


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
    survival: dict[str, dict[str, np.ndarray]],
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
            f"steps x {settings.restarts} restarts x {len(settings.losses)} losses, surrogate "
            f"sigma {'/'.join(f'{s:g}' for s in settings.surrogate_sigmas)}, Square "
            f"{settings.square_queries} queries)"
        )
        result = attack_defense(model, defense, images, labels, settings, say)
        results[defense.name] = result
        for name, broken in ((BPDA, result.broken), (SQUARE, result.square_broken)):
            rows.append(Row(name, defense.name, float(1 - broken.mean()), None, len(labels)))
            survival[defense.name][name] = ~broken
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
    main = _main_defense(options.defenses)
    if main is not None:
        say(f"sanity: accuracy against epsilon on {main.label}")
        check = sanity.epsilon_check(model, main, images, labels, settings, say)
        checks.append(check)
        curves.setdefault(main.name, {})["epsilon"] = check.data
    return rows


def _main_defense(defenses: Sequence[Defense]) -> Defense | None:
    return next((d for d in defenses if d.name == MAIN_DEFENSE), None) or next(
        (d for d in defenses if d.lossy), None
    )


def stronger(settings: AdaptiveSettings) -> AdaptiveSettings:
    """The stronger configuration of the sanity check: twice the steps, one more run per loss
    (other random starts: another seed)."""
    return replace(
        settings, steps=2 * settings.steps, restarts=settings.restarts + 1, seed=settings.seed + 1
    )


def _headline_checks(
    model: nn.Module,
    data: Dataset,
    options: EvaluateOptions,
    settings: AdaptiveSettings,
    survival: dict[str, dict[str, np.ndarray]],
    worst: dict[str, Any],
    curves: dict[str, Any],
    say: Progress,
) -> list[sanity.Check]:
    """The checks of the headline itself: the epsilon curve is not below it, and a stronger
    configuration breaks at most one image it counts as robust (on a subsample)."""
    checks: list[sanity.Check] = []
    main = _main_defense(options.defenses)
    if main is not None and "epsilon" in curves.get(main.name, {}):
        checks.append(
            sanity.curve_check(
                main.name,
                curves[main.name]["epsilon"],
                settings.epsilon,
                worst[main.name]["accuracy"],
                len(data),
            )
        )
    subsample = np.unique(
        np.linspace(0, len(data) - 1, min(len(data), STRONGER_SUBSAMPLE)).round().astype(int)
    )
    harder = stronger(settings)
    for defense in options.defenses:
        robust = np.logical_and.reduce(list(survival[defense.name].values()))
        chosen = subsample[robust[subsample]]
        broken = 0
        if len(chosen):
            say(
                f"sanity: stronger attack on {defense.label} ({len(chosen)} robust images of "
                f"{len(subsample)}, {harder.steps} steps x {harder.restarts} restarts)"
            )
            result = attack_defense(
                model, defense, data.images[chosen], data.labels[chosen], harder, say,
                square=False, index=chosen,
            )  # fmt: skip
            broken = int(result.broken.sum())
        checks.append(sanity.stronger_check(defense.name, len(subsample), len(chosen), broken))
    return checks


def evaluate_model(
    model: str,
    weights: str | None,
    data_dir: Path | str | Sequence[Path | str] | None,
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
    data_dirs = [data_dir] if isinstance(data_dir, str | Path) else list(data_dir or ())
    if not data_dirs and model != REFERENCE_MODEL and not adversarial_dirs:
        raise UsageError("--data (or --adversarial) is required unless --model reference")
    started = time.monotonic()
    classifier = load_pixel_classifier(model, weights, device, synsets, progress=say)
    timings = {"model": round(time.monotonic() - started, 2)}
    dataset: Dataset | None = None
    if data_dirs:
        dataset = datasets.join(
            [
                datasets.foolbox_samples(classifier.classes, classifier.size, max_pixels)
                if str(folder) == datasets.FOOLBOX_SAMPLES
                else datasets.load_folder(
                    Path(folder), classifier.classes, classifier.size, max_pixels
                )
                for folder in data_dirs
            ]
        )
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
        "surrogate_sigmas": list(options.adaptive_settings().surrogate_sigmas),
        "sweep_qualities": list(options.sweep_qualities),
        "match_size": options.match_size,
        "quick": options.quick,
        "seed": options.seed,
        "device": device,
        "torch_threads": torch.get_num_threads(),
    }
