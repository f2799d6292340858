"""Attack every image of a folder and write the adversarial PNGs plus a manifest.

The library entry point of ``lltd attack``: :func:`attack_folder`. Imports torch and foolbox.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import torch

from lltd.attack import labels as labelling
from lltd.attack.attacks import run_attack
from lltd.attack.catalog import check_epsilon, is_bounded
from lltd.attack.naming import UniqueNames, adversarial_name
from lltd.batch.scan import IMAGE_EXTENSIONS, Task, is_within, scan
from lltd.common.errors import ImageError, LltdError, UsageError
from lltd.fs.atomic import atomic_output, write_bytes_atomic
from lltd.imaging.imageio import DEFAULT_MAX_PIXELS, open_image, to_8bit_rgb
from lltd.models import PixelClassifier, load_pixel_classifier, preprocess, to_8bit, to_pil

Status = Literal["ok", "attack_failed", "clean_misclassified", "bad_input"]
MANIFEST_NAME = "manifest.csv"
#: Stretch factors tried on a minimal-norm perturbation so that it survives 8-bit rounding.
QUANTIZATION_SCALES = (1.0, 1.05, 1.1, 1.25, 1.5, 2.0, 3.0, 4.0)
#: Looked for beside and above the input folder when ``synsets`` is not given (the seed layout).
SYNSET_FILE = "synset_words.txt"


@dataclass(frozen=True)
class AttackOptions:
    model: str = "inception_v3"
    weights: str | None = "DEFAULT"
    attack: str = "deepfool"
    epsilon: float | None = None  # None: the attack's default (catalog.default_epsilon)
    steps: int | None = None  # None: the attack's default (the catalog's steps)
    batch_size: int = 8
    seed: int | None = 0
    device: str = "auto"
    synsets: Path | None = None
    max_pixels: int | None = DEFAULT_MAX_PIXELS

    def validate(self) -> None:
        check_epsilon(self.attack, self.epsilon)
        if self.batch_size < 1:
            raise UsageError(f"--batch-size must be at least 1, not {self.batch_size}")
        if self.steps is not None and self.steps < 1:
            raise UsageError(f"--steps must be at least 1, not {self.steps}")


@dataclass
class AttackRecord:
    """One manifest row. Classes are indices; ``*_label`` is ``<synset> <name>`` or ``<i> <name>``.

    ``l2``/``linf`` measure the saved 8-bit perturbation (crop of the input vs output) on the
    0-255 scale; ``steps`` is the attack's step count for this image where it has one.
    ``perturbation_scale`` is how much a minimal-norm result was stretched to stay adversarial
    after rounding to 8 bits (1.0: not at all).
    """

    input: str
    output: str = ""
    status: Status = "ok"
    reason: str = ""
    label_source: str = ""
    true_class: int | None = None
    true_label: str = ""
    clean_class: int | None = None
    clean_label: str = ""
    adversarial_class: int | None = None
    adversarial_label: str = ""
    saved_class: int | None = None
    saved_still_adversarial: bool | None = None
    l2: float | None = None
    linf: float | None = None
    steps: int | None = None
    perturbation_scale: float | None = None


MANIFEST_FIELDS = tuple(f.name for f in fields(AttackRecord))


@dataclass
class AttackReport:
    input_dir: Path
    output_dir: Path
    options: AttackOptions
    classifier: str
    device: str
    input_size: int
    epsilon: float | None
    records: list[AttackRecord] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: Status) -> int:
        return sum(record.status == status for record in self.records)

    @property
    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {"images": len(self.records)}
        for status in ("ok", "attack_failed", "clean_misclassified", "bad_input"):
            counts[status] = self.count(status)  # type: ignore[arg-type]
        counts["saved_still_adversarial"] = sum(
            bool(record.saved_still_adversarial) for record in self.records
        )
        return counts

    def to_json(self) -> dict[str, Any]:
        """The ``lltd.report/1`` report: the options and what they resolved to (model, device,
        epsilon) once as ``settings``; each manifest row as a file record."""
        from lltd.common.report import envelope, file_size

        settings = asdict(self.options)
        settings["synsets"] = str(self.options.synsets) if self.options.synsets else None
        settings.update(
            model=self.classifier,
            device=self.device,
            input_size=self.input_size,
            epsilon=self.epsilon,  # the budget used (None: the attack takes none)
        )

        def size(folder: Path, name: str | None) -> int | None:
            # Names are relative, as in manifest.csv; IN_DIR may be one file.
            return file_size(folder if folder.is_file() else folder / name) if name else None

        files = [
            _file_record(
                record,
                size(self.input_dir, record.input),
                size(self.output_dir, record.output),
            )
            for record in self.records
        ]
        totals: dict[str, Any] = {"files": len(self.records)}
        totals.update((k, v) for k, v in self.summary.items() if k != "images")
        totals["bytes_before"] = sum(record["bytes_before"] or 0 for record in files)
        totals["bytes_after"] = sum(record["bytes_after"] or 0 for record in files)
        totals["seconds"] = round(self.seconds, 3)
        return envelope(
            "attack",
            input=str(self.input_dir),
            output=str(self.output_dir),
            settings=settings,
            files=files,
            totals=totals,
        )


def _file_record(record: AttackRecord, before: int | None, after: int | None) -> dict[str, Any]:
    """A manifest row in the shared file shape (names relative, as in manifest.csv):
    ``outcome`` is its status, ``error`` its reason; the manifest's other columns follow."""
    row = asdict(record)
    output = row.pop("output") or None
    status, reason = row.pop("status"), row.pop("reason")
    return {
        "input": row.pop("input"),
        "output": output,
        "outcome": status,
        "bytes_before": before,
        "bytes_after": after if output else None,
        "error": reason or None,
        **row,
    }


def find_synsets(in_dir: Path) -> Path | None:
    for folder in (in_dir, in_dir.parent):
        candidate = folder / SYNSET_FILE
        if candidate.is_file():
            return candidate
    return None


def _inputs(in_dir: Path, out_dir: Path) -> list[Task]:
    if in_dir.is_file():
        return [Task(in_dir, Path(in_dir.name))]
    if not in_dir.is_dir():
        raise UsageError(f"{in_dir}: no such file or folder")
    if out_dir.resolve() == in_dir.resolve():
        raise UsageError("the output folder must not be the input folder (-o)")
    # The output folder may sit inside the input folder; never attack our own outputs.
    exclude = [out_dir] if is_within(out_dir.resolve(), in_dir.resolve()) else []
    return scan(in_dir, IMAGE_EXTENSIONS, exclude=exclude)


def _batches(tasks: Sequence[Task], size: int) -> Iterator[Sequence[Task]]:
    for start in range(0, len(tasks), size):
        yield tasks[start : start + size]


def _load(task: Task, size: int, max_pixels: int | None) -> torch.Tensor:
    image = open_image(task.source, max_pixels)
    return preprocess(to_8bit_rgb(image).convert("RGB"), size)


def _norms(clean: torch.Tensor, adversarial: torch.Tensor) -> tuple[float, float]:
    diff = to_8bit(adversarial).double() - to_8bit(clean).double()
    return round(math.sqrt(float((diff**2).sum())), 4), float(diff.abs().max())


def attack_folder(
    in_dir: Path,
    out_dir: Path,
    options: AttackOptions = AttackOptions(),
    *,
    classifier: PixelClassifier | None = None,
    on_record: Callable[[AttackRecord], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> AttackReport:
    """Attack the images under ``in_dir``; write ``Adv_*.png`` and ``manifest.csv`` to ``out_dir``.

    Every input gets a record (``on_record`` sees each as it is done; ``on_start`` the total).
    Only successful attacks are saved; each saved PNG is read back and classified again.
    """
    options.validate()
    started = time.monotonic()
    tasks = _inputs(in_dir, out_dir)
    if classifier is None:
        found = find_synsets(in_dir if in_dir.is_dir() else in_dir.parent)
        classifier = load_pixel_classifier(
            options.model,
            options.weights,
            options.device,
            options.synsets or found,
            strict_synsets=options.synsets is not None,
        )
    epsilon = check_epsilon(options.attack, options.epsilon)
    report = AttackReport(
        in_dir, out_dir, options, classifier.name, classifier.device, classifier.size, epsilon
    )
    if on_start:
        on_start(len(tasks))
    out_dir.mkdir(parents=True, exist_ok=True)
    names = UniqueNames()
    for batch in _batches(tasks, options.batch_size):
        for record in _attack_batch(batch, out_dir, options, classifier, epsilon, names):
            report.records.append(record)
            if on_record:
                on_record(record)
    write_manifest_csv(report.records, out_dir / MANIFEST_NAME)
    report.seconds = time.monotonic() - started
    return report


def _attack_batch(
    batch: Sequence[Task],
    out_dir: Path,
    options: AttackOptions,
    classifier: PixelClassifier,
    epsilon: float | None,
    names: UniqueNames,
) -> list[AttackRecord]:
    classes = classifier.classes
    records = [AttackRecord(input=task.relative.as_posix()) for task in batch]
    pixels: dict[int, torch.Tensor] = {}
    for i, task in enumerate(batch):
        try:
            pixels[i] = _load(task, classifier.size, options.max_pixels)
        except ImageError as exc:
            records[i].status, records[i].reason = "bad_input", str(exc)
    if not pixels:
        return records
    order = sorted(pixels)
    clean = torch.stack([pixels[i] for i in order])
    predicted = classifier.predict(clean).tolist()
    targets: list[int] = []
    for row, i in enumerate(order):
        record, clean_class = records[i], int(predicted[row])
        hint = labelling.label_hint(batch[i].source)
        true_class = labelling.resolve(hint, classes)
        record.label_source = hint.source if hint and true_class is not None else "prediction"
        record.true_class = clean_class if true_class is None else true_class
        record.true_label = classes.label(record.true_class)
        record.clean_class, record.clean_label = clean_class, classes.label(clean_class)
        if record.clean_class != record.true_class:
            record.status = "clean_misclassified"
            record.reason = "the model already misclassifies the clean image; not attacked"
        targets.append(record.true_class)
    attack_rows = [row for row, i in enumerate(order) if records[i].status == "ok"]
    if not attack_rows:
        return records
    result = run_attack(
        classifier.model,
        clean[attack_rows],
        torch.tensor([targets[row] for row in attack_rows]),
        options.attack,
        epsilon,
        options.seed,
        steps=options.steps,
    )
    for k, row in enumerate(attack_rows):
        i, adversarial = order[row], result.adversarial[k]
        record = records[i]
        record.adversarial_class = int(result.predictions[k])
        record.adversarial_label = classes.label(record.adversarial_class)
        record.steps = result.steps[k] if result.steps is not None else None
        if not bool(result.success[k]):
            record.l2, record.linf = _norms(clean[row], adversarial)
            record.status = "attack_failed"
            record.reason = f"{options.attack} did not change the prediction"
            continue
        scales = (1.0,) if is_bounded(options.attack) else QUANTIZATION_SCALES
        saved, saved_class, record.perturbation_scale = _quantize_adversarial(
            classifier, clean[row], adversarial, record.true_class, scales
        )
        record.l2, record.linf = _norms(clean[row], saved)
        shown = saved_class if saved_class != record.true_class else record.adversarial_class
        name = names.claim(adversarial_name(record.true_label, classes.label(shown)))
        _save_png(saved, out_dir / name)
        record.output = name
        record.saved_class = _classify_file(out_dir / name, classifier)
        record.saved_still_adversarial = record.saved_class != record.true_class
    return records


def _quantize(pixels: torch.Tensor) -> torch.Tensor:
    return pixels.clamp(0, 1).mul(255).round().div(255)


def _quantize_adversarial(
    classifier: PixelClassifier,
    clean: torch.Tensor,
    adversarial: torch.Tensor,
    true_class: int,
    scales: Sequence[float],
) -> tuple[torch.Tensor, int, float]:
    """The 8-bit image to save: the attack's result rounded to 8 bits, its perturbation
    stretched by the first of ``scales`` that keeps it adversarial after rounding.

    Minimal-norm attacks stop just past the decision boundary, where rounding to 8 bits often
    undoes them; DeepFool's own overshoot (0.02) is not meant for that. Returns the pixels, the
    model's class for them and the scale used (the smallest tried when none stays adversarial).
    """
    perturbation = adversarial - clean
    candidates = torch.stack([_quantize(clean + scale * perturbation) for scale in scales])
    predicted = classifier.predict(candidates).tolist()
    for index, scale in enumerate(scales):
        if predicted[index] != true_class:
            return candidates[index], int(predicted[index]), scale
    return candidates[0], int(predicted[0]), scales[0]


def _save_png(pixels: torch.Tensor, destination: Path) -> None:
    try:
        with atomic_output(destination) as target:
            to_pil(pixels).save(target.path, format="PNG")
    except OSError as exc:
        raise LltdError(f"{destination}: cannot write: {exc.strerror or exc}") from None


def _classify_file(path: Path, classifier: PixelClassifier) -> int:
    """The model's class for a saved file, read back from disk exactly as an input would be."""
    pixels = preprocess(open_image(path).convert("RGB"), classifier.size)
    return int(classifier.predict(pixels.unsqueeze(0))[0])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def manifest_csv_text(records: Sequence[AttackRecord]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(MANIFEST_FIELDS)
    for record in records:
        writer.writerow([_cell(getattr(record, name)) for name in MANIFEST_FIELDS])
    return buffer.getvalue()


def write_manifest_csv(records: Sequence[AttackRecord], path: Path) -> None:
    _write_text(path, manifest_csv_text(records))


def write_json(report: AttackReport, path: Path) -> None:
    _write_text(path, json.dumps(report.to_json(), indent=2) + "\n")


def _write_text(path: Path, text: str) -> None:
    try:
        write_bytes_atomic(path, text.encode("utf-8"))
    except OSError as exc:
        raise LltdError(f"{path}: cannot write: {exc.strerror or exc}") from None
