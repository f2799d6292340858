"""``lltd attack``'s library path (``lltd.attack.run``, issue 27), in-process on 8 x 8 gray PNGs
and a network whose class is the image's mean brightness (borders at 0.335 and 0.665, between
8-bit levels), so every outcome is known in advance: which inputs fool, fail, are already
misclassified or unreadable; the saved pixels, their norms and the stretch that survives 8-bit
rounding; the manifest and the JSON report word for word; the one-line refusals."""

from __future__ import annotations

import csv
import dataclasses
import errno
import io
import json
import math
import os
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("foolbox")

from PIL import Image  # noqa: E402

from lltd.attack import run as attack_run  # noqa: E402
from lltd.attack.run import (  # noqa: E402
    MANIFEST_FIELDS,
    QUANTIZATION_SCALES,
    AttackOptions,
    AttackRecord,
    AttackReport,
    attack_folder,
    find_synsets,
    manifest_csv_text,
    write_json,
    write_manifest_csv,
)
from lltd.batch.scan import Task  # noqa: E402
from lltd.common.errors import LltdError, UsageError  # noqa: E402
from lltd.imaging.imageio import DEFAULT_MAX_PIXELS  # noqa: E402
from lltd.models import ClassNames  # noqa: E402
from lltd.models.registry import PixelClassifier  # noqa: E402

pytestmark = pytest.mark.torch

SYNSETS = ("n00000001", "n00000002", "n00000003")
CLASSES = ClassNames(("dark", "mid/grey", "bright"), SYNSETS)

MEAN_NET = """
import torch


class MeanNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.centers = torch.nn.Parameter(torch.tensor([0.17, 0.5, 0.83]), requires_grad=False)

    def forward(self, x):
        return -(x.mean(dim=(1, 2, 3))[:, None] - self.centers).abs()


def build():
    net = MeanNet().eval()
    net.input_size, net.mean, net.std = 8, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    return net
"""
namespace: dict = {}
exec(MEAN_NET, namespace)  # the same network in-process and as a ``module:function`` factory


def classifier() -> PixelClassifier:
    return PixelClassifier("mean", namespace["build"](), 8, CLASSES, "DEFAULT", "cpu")


def gray(path: Path, level: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (level, level, level)).save(path)
    return path


def norms(levels: int) -> tuple[float, float]:
    """l2 and linf of a perturbation of ``levels`` 8-bit levels on every value of 8 x 8 x 3."""
    return round(math.sqrt(192 * levels**2), 4), float(abs(levels))


def fgsm_folder(tmp_path: Path) -> Path:
    """Inputs whose outcome under FGSM at 40/255 (40 levels up) is known. (Below 0.17 the
    network's logits all move together: no gradient, so every input is above it.)"""
    inputs = tmp_path / "in"
    gray(inputs / "n00000001 dark.png", 80)  # 0.31 -> 0.47: fools (dark -> mid)
    gray(inputs / "n00000001 too dark.png", 45)  # 0.18 -> 0.33: still dark
    gray(inputs / "n00000002 wrong.png", 200)  # bright, labelled mid: not attacked
    gray(inputs / "photo.png", 150)  # unlabelled: its prediction (mid) -> 0.75 bright
    gray(inputs / "n00000001" / "x.png", 60)  # labelled by its folder: 0.24 -> 0.39 mid
    (inputs / "zz empty.png").write_bytes(b"")
    return inputs


FGSM = AttackOptions(attack="fgsm", epsilon=40 / 255, batch_size=2, seed=0)


def test_every_input_gets_the_record_its_pixels_call_for(tmp_path: Path) -> None:
    inputs, out = fgsm_folder(tmp_path), tmp_path / "out"
    started, seen = [], []
    report = attack_folder(
        inputs, out, FGSM, classifier=classifier(), on_start=started.append,
        on_record=seen.append,
    )  # fmt: skip
    assert started == [6]
    assert seen == report.records
    by_input = {record.input: record for record in report.records}
    assert sorted(by_input) == sorted(
        ["n00000001 dark.png", "n00000001 too dark.png", "n00000002 wrong.png", "photo.png",
         "n00000001/x.png", "zz empty.png"]
    )  # fmt: skip
    l2, linf = norms(40)
    assert by_input["n00000001 dark.png"] == AttackRecord(
        input="n00000001 dark.png",
        output="Adv_n00000001 dark-n00000002 mid_grey.png",
        status="ok", reason="", label_source="filename",
        true_class=0, true_label="n00000001 dark", clean_class=0, clean_label="n00000001 dark",
        adversarial_class=1, adversarial_label="n00000002 mid/grey",
        saved_class=1, saved_still_adversarial=True, l2=l2, linf=linf, steps=1,
        perturbation_scale=1.0,
    )  # fmt: skip
    assert by_input["n00000001 too dark.png"] == AttackRecord(
        input="n00000001 too dark.png", status="attack_failed",
        reason="fgsm did not change the prediction", label_source="filename",
        true_class=0, true_label="n00000001 dark", clean_class=0, clean_label="n00000001 dark",
        adversarial_class=0, adversarial_label="n00000001 dark", l2=l2, linf=linf, steps=1,
    )  # fmt: skip
    assert by_input["n00000002 wrong.png"] == AttackRecord(
        input="n00000002 wrong.png", status="clean_misclassified",
        reason="the model already misclassifies the clean image; not attacked",
        label_source="filename", true_class=1, true_label="n00000002 mid/grey",
        clean_class=2, clean_label="n00000003 bright",
    )  # fmt: skip
    photo = by_input["photo.png"]
    assert (photo.label_source, photo.true_class, photo.status, photo.saved_class) == (
        "prediction", 1, "ok", 2,
    )  # fmt: skip
    assert photo.output == "Adv_n00000002 mid_grey-n00000003 bright.png"
    folder = by_input["n00000001/x.png"]
    assert (folder.label_source, folder.true_class, folder.status) == ("folder", 0, "ok")
    assert folder.output == "Adv_n00000001 dark-n00000002 mid_grey (2).png"  # unique per run
    empty = by_input["zz empty.png"]
    assert (empty.status, empty.label_source, empty.true_class) == ("bad_input", "", None)
    assert empty.reason.endswith("empty file (0 bytes)")


def test_the_saved_pngs_are_the_8_bit_adversarial_pixels(tmp_path: Path) -> None:
    inputs, out = fgsm_folder(tmp_path), tmp_path / "out"
    report = attack_folder(inputs, out, FGSM, classifier=classifier())
    saved = sorted(p.name for p in out.iterdir())
    assert saved == sorted(
        [r.output for r in report.records if r.status == "ok"] + ["manifest.csv"]
    )
    expected = {"n00000001 dark.png": 120, "photo.png": 190, "n00000001/x.png": 100}
    for record in report.records:
        if record.status == "ok":
            with Image.open(out / record.output) as image:
                assert image.mode == "RGB" and image.size == (8, 8)
                assert set(image.getdata()) == {(expected[record.input],) * 3}
    assert (out / "manifest.csv").read_text() == manifest_csv_text(report.records)


def test_a_minimal_norm_result_is_stretched_until_it_survives_rounding(tmp_path: Path) -> None:
    inputs, out = tmp_path / "in", tmp_path / "out"
    # 84/255 = 0.3294: DeepFool stops at about 85.47 levels (0.3352, past 0.335), which rounds
    # back to 85 (0.3333, dark); 1.05 times the perturbation rounds to 86 (0.3373, mid).
    gray(inputs / "n00000001 edge.png", 84)
    gray(inputs / "n00000001 far.png", 60)  # 0.24: DeepFool's result (85.9) rounds to mid at once
    options = AttackOptions(attack="deepfool", batch_size=8, seed=0)
    report = attack_folder(inputs, out, options, classifier=classifier())
    edge, far = sorted(report.records, key=lambda r: r.input)
    assert (edge.status, edge.perturbation_scale, edge.saved_class) == ("ok", 1.05, 1)
    assert (edge.l2, edge.linf) == norms(2)
    assert edge.steps == 1 and edge.saved_still_adversarial is True
    with Image.open(out / edge.output) as image:
        assert set(image.getdata()) == {(86, 86, 86)}
    assert (far.status, far.perturbation_scale, far.saved_class) == ("ok", 1.0, 1)


def test_an_example_that_rounding_made_harmless_is_saved_and_says_so(tmp_path: Path) -> None:
    # FGSM at 1.45 levels lifts 84 to 85.45 (0.3351: mid), which a PNG stores as 85 (dark). A
    # bounded attack is never stretched: the file is kept, named after what the attack reached.
    gray(tmp_path / "in" / "n00000001 edge.png", 84)
    options = AttackOptions(attack="fgsm", epsilon=1.45 / 255)
    (record,) = attack_folder(
        tmp_path / "in", tmp_path / "out", options, classifier=classifier()
    ).records
    assert (record.status, record.adversarial_class, record.saved_class) == ("ok", 1, 0)
    assert (record.saved_still_adversarial, record.perturbation_scale) == (False, 1.0)
    assert record.output == "Adv_n00000001 dark-n00000002 mid_grey.png"
    assert (record.l2, record.linf) == norms(1)


def test_an_unknown_synset_falls_back_to_the_prediction(tmp_path: Path) -> None:
    gray(tmp_path / "in" / "n00000009 nothing.png", 150)  # neither synset nor name is a class
    options = AttackOptions(attack="fgsm", epsilon=40 / 255)
    (record,) = attack_folder(
        tmp_path / "in", tmp_path / "o", options, classifier=classifier()
    ).records
    assert (record.label_source, record.true_class, record.status) == ("prediction", 1, "ok")


def test_carlini_wagner_records_no_step_count(tmp_path: Path) -> None:
    gray(tmp_path / "in" / "n00000001 dark.png", 80)
    options = AttackOptions(attack="cw", steps=2)
    (record,) = attack_folder(
        tmp_path / "in", tmp_path / "o", options, classifier=classifier()
    ).records
    assert record.status in ("ok", "attack_failed") and record.steps is None


def test_the_pixel_limit_reaches_every_input(tmp_path: Path) -> None:
    gray(tmp_path / "in" / "n00000001 dark.png", 80)
    options = AttackOptions(attack="fgsm", epsilon=40 / 255, max_pixels=63)
    (record,) = attack_folder(
        tmp_path / "in", tmp_path / "o", options, classifier=classifier()
    ).records
    assert (record.status, record.reason) == (
        "bad_input", "8x8 = 64 pixels exceeds the limit of 63 (--max-pixels)",
    )  # fmt: skip
    options = AttackOptions(attack="fgsm", epsilon=40 / 255, max_pixels=64)
    (record,) = attack_folder(
        tmp_path / "in", tmp_path / "p", options, classifier=classifier()
    ).records
    assert record.status == "ok"


def test_the_output_folder_is_made_with_its_parents(tmp_path: Path) -> None:
    gray(tmp_path / "in" / "n00000001 dark.png", 80)
    out = tmp_path / "a" / "b" / "out"
    attack_folder(tmp_path / "in", out, FGSM, classifier=classifier())
    assert sorted(p.name for p in out.iterdir()) == [
        "Adv_n00000001 dark-n00000002 mid_grey.png", "manifest.csv",
    ]  # fmt: skip


def test_the_stretch_is_the_first_scale_that_stays_adversarial_else_the_smallest() -> None:
    model = classifier()
    clean = torch.full((3, 8, 8), 84 / 255)
    adversarial = torch.full((3, 8, 8), 85.45 / 255)  # rounds back to 85: dark
    pixels, cls, scale = attack_run._quantize_adversarial(
        model, clean, adversarial, 0, (1.0, 1.03, 1.05, 2.0)
    )
    assert (cls, scale) == (1, 1.05)  # 84 + 1.45 x 1.03 = 85.49 rounds to 85 still
    assert torch.equal(pixels, torch.full((3, 8, 8), 86 / 255))
    pixels, cls, scale = attack_run._quantize_adversarial(model, clean, adversarial, 0, (1.0,))
    assert (cls, scale) == (0, 1.0)
    assert torch.equal(pixels, torch.full((3, 8, 8), 85 / 255))
    assert QUANTIZATION_SCALES == (1.0, 1.05, 1.1, 1.25, 1.5, 2.0, 3.0, 4.0)


def test_options_default_and_refuse_in_one_line() -> None:
    assert AttackOptions() == AttackOptions(
        model="inception_v3", weights="DEFAULT", attack="deepfool", epsilon=None, steps=None,
        batch_size=8, seed=0, device="auto", synsets=None, max_pixels=DEFAULT_MAX_PIXELS,
    )  # fmt: skip
    AttackOptions(batch_size=1, steps=1).validate()
    for options, message in [
        (AttackOptions(batch_size=0), "--batch-size must be at least 1, not 0"),
        (AttackOptions(steps=0), "--steps must be at least 1, not 0"),
        (
            AttackOptions(epsilon=0.1),
            "deepfool finds a minimal perturbation and takes no --epsilon",
        ),
    ]:
        with pytest.raises(UsageError) as caught:
            options.validate()
        assert str(caught.value) == message


def test_options_are_a_frozen_value() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        FGSM.seed = 1  # type: ignore[misc]
    assert {FGSM, AttackOptions(attack="fgsm", epsilon=40 / 255, batch_size=2)} == {FGSM}


def test_attack_folder_checks_its_options_before_touching_anything(tmp_path: Path) -> None:
    gray(tmp_path / "in" / "n00000001 dark.png", 80)
    with pytest.raises(UsageError) as caught:
        attack_folder(tmp_path / "in", tmp_path / "out", AttackOptions(batch_size=0),
                      classifier=classifier())  # fmt: skip
    assert str(caught.value) == "--batch-size must be at least 1, not 0"
    assert not (tmp_path / "out").exists()


def test_inputs_and_output_folders_are_checked(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        attack_folder(tmp_path / "nowhere", tmp_path / "out", FGSM, classifier=classifier())
    assert str(caught.value) == f"{tmp_path / 'nowhere'}: no such file or folder"
    inputs = fgsm_folder(tmp_path)
    with pytest.raises(UsageError) as caught:
        attack_folder(inputs, inputs / ".", FGSM, classifier=classifier())
    assert str(caught.value) == "the output folder must not be the input folder (-o)"
    assert not (tmp_path / "out").exists()


def test_an_output_folder_inside_the_inputs_is_not_attacked(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    gray(inputs / "n00000001 dark.png", 80)
    first = attack_folder(inputs, inputs / "adv", FGSM, classifier=classifier())
    again = attack_folder(inputs, inputs / "adv", FGSM, classifier=classifier())
    assert [r.input for r in first.records] == [r.input for r in again.records]
    assert [r.input for r in again.records] == ["n00000001 dark.png"]


def test_one_file_as_input(tmp_path: Path) -> None:
    source = gray(tmp_path / "in" / "n00000001 dark.png", 80)
    report = attack_folder(source, tmp_path / "out", FGSM, classifier=classifier())
    assert [(r.input, r.status) for r in report.records] == [("n00000001 dark.png", "ok")]
    files = report.to_json()["files"]
    assert files[0]["bytes_before"] == source.stat().st_size


def test_batches_change_nothing_but_the_batching(tmp_path: Path) -> None:
    inputs = fgsm_folder(tmp_path)
    (inputs / "zz broken.png").write_bytes(b"\x89PNG broken")  # with zz empty: a batch of two bad
    reports = [
        attack_folder(inputs, tmp_path / f"out{size}", AttackOptions(
            attack="fgsm", epsilon=0.2, batch_size=size), classifier=classifier())
        for size in (1, 2, 3, 7)
    ]  # fmt: skip
    assert all(r.records == reports[0].records for r in reports)
    assert len(reports[0].records) == 7
    assert list(attack_run._batches(list(range(7)), 3)) == [[0, 1, 2], [3, 4, 5], [6]]


def test_a_batch_with_nothing_to_attack_writes_nothing_but_the_manifest(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    gray(inputs / "n00000002 wrong.png", 200)
    (inputs / "n00000001 bad.png").write_bytes(b"")
    report = attack_folder(inputs, tmp_path / "out", FGSM, classifier=classifier())
    assert sorted(r.status for r in report.records) == ["bad_input", "clean_misclassified"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["manifest.csv"]
    assert report.summary == {
        "images": 2, "ok": 0, "attack_failed": 0, "clean_misclassified": 1, "bad_input": 1,
        "saved_still_adversarial": 0,
    }  # fmt: skip


def test_the_manifest_is_one_row_per_record_in_the_fields_order(tmp_path: Path) -> None:
    assert MANIFEST_FIELDS == (
        "input", "output", "status", "reason", "label_source", "true_class", "true_label",
        "clean_class", "clean_label", "adversarial_class", "adversarial_label", "saved_class",
        "saved_still_adversarial", "l2", "linf", "steps", "perturbation_scale",
    )  # fmt: skip
    records = [
        AttackRecord("a, b.png", "x.png", "ok", "", "filename", 0, "n1 a", 0, "n1 a", 1, "n2 b",
                     1, True, 1.5, 2.0, 3, 1.05),
        AttackRecord("c.png", status="attack_failed", saved_still_adversarial=False),
    ]  # fmt: skip
    text = manifest_csv_text(records)
    assert text.splitlines() == [
        ",".join(MANIFEST_FIELDS),
        '"a, b.png",x.png,ok,,filename,0,n1 a,0,n1 a,1,n2 b,1,true,1.5,2.0,3,1.05',
        "c.png,,attack_failed,,,,,,,,,,false,,,,",
    ]
    assert text.endswith("\n") and "\r" not in text
    write_manifest_csv(records, tmp_path / "m.csv")
    assert (tmp_path / "m.csv").read_text() == text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["input"] == "a, b.png"


def test_the_json_report_states_settings_records_and_totals(tmp_path: Path) -> None:
    inputs, out = fgsm_folder(tmp_path), tmp_path / "out"
    (tmp_path / "synsets.txt").write_text("n00000001 dark\n")
    options = AttackOptions(
        attack="fgsm", epsilon=40 / 255, batch_size=2, synsets=tmp_path / "x.txt"
    )
    report = attack_folder(inputs, out, options, classifier=classifier())
    (inputs / "zz empty.png").unlink()  # gone by the time of the report: no size
    write_json(report, tmp_path / "report.json")
    data = json.loads((tmp_path / "report.json").read_text())
    assert (tmp_path / "report.json").read_text().endswith("}\n")
    assert data["command"] == "attack"
    assert (data["input"], data["output"]) == (str(inputs), str(out))
    assert data["settings"] == {
        "model": "mean", "weights": "DEFAULT", "attack": "fgsm", "epsilon": 40 / 255, "steps": None,
        "batch_size": 2, "seed": 0, "device": "cpu", "synsets": str(tmp_path / "x.txt"),
        "max_pixels": DEFAULT_MAX_PIXELS, "input_size": 8,
    }  # fmt: skip
    files = {record["input"]: record for record in data["files"]}
    dark = files["n00000001 dark.png"]
    assert dark == {
        "input": "n00000001 dark.png", "output": "Adv_n00000001 dark-n00000002 mid_grey.png",
        "outcome": "ok", "bytes_before": (inputs / "n00000001 dark.png").stat().st_size,
        "bytes_after": (out / dark["output"]).stat().st_size, "error": None,
        "label_source": "filename", "true_class": 0, "true_label": "n00000001 dark",
        "clean_class": 0, "clean_label": "n00000001 dark", "adversarial_class": 1,
        "adversarial_label": "n00000002 mid/grey", "saved_class": 1,
        "saved_still_adversarial": True, "l2": norms(40)[0], "linf": 40.0, "steps": 1,
        "perturbation_scale": 1.0,
    }  # fmt: skip
    failed = files["n00000001 too dark.png"]
    assert (failed["output"], failed["bytes_after"], failed["error"]) == (
        None, None, "fgsm did not change the prediction",
    )  # fmt: skip
    empty = files["zz empty.png"]
    assert empty["error"].endswith("empty file (0 bytes)")
    assert empty | {"error": None} == {
        "input": "zz empty.png", "output": None, "outcome": "bad_input", "bytes_before": None,
        "bytes_after": None, "error": None, "label_source": "", "true_class": None,
        "true_label": "", "clean_class": None, "clean_label": "", "adversarial_class": None,
        "adversarial_label": "", "saved_class": None, "saved_still_adversarial": None,
        "l2": None, "linf": None, "steps": None, "perturbation_scale": None,
    }  # fmt: skip
    wrong = files["n00000002 wrong.png"]
    unset = ("adv", "saved", "l", "steps", "pert")  # what an input not attacked leaves unset
    assert {k: v for k, v in wrong.items() if k.startswith(unset)} == {
        "label_source": "filename", "linf": None, "l2": None, "adversarial_class": None,
        "adversarial_label": "", "saved_class": None, "saved_still_adversarial": None,
        "steps": None, "perturbation_scale": None,
    }  # fmt: skip
    sizes_in = sum((inputs / name).stat().st_size for name in files if name != "zz empty.png")
    sizes_out = sum((out / r["output"]).stat().st_size for r in data["files"] if r["output"])
    totals = dict(data["totals"])
    assert 0 <= totals.pop("seconds") < 3600
    assert totals == {
        "files": 6, "ok": 3, "attack_failed": 1, "clean_misclassified": 1, "bad_input": 1,
        "saved_still_adversarial": 3, "bytes_before": sizes_in, "bytes_after": sizes_out,
    }  # fmt: skip
    assert report.count("ok") == 3 and report.count("bad_input") == 1


def test_report_settings_without_synsets_or_budget(tmp_path: Path) -> None:
    report = AttackReport(tmp_path, tmp_path / "o", AttackOptions(), "m", "cpu", 8, None)
    data = report.to_json()
    assert data["settings"]["synsets"] is None and data["settings"]["epsilon"] is None
    assert data["settings"]["model"] == "m" and data["totals"]["files"] == 0
    assert data["totals"]["seconds"] == 0.0
    report.seconds = 1.23456
    assert report.to_json()["totals"]["seconds"] == 1.235


def test_synset_words_are_found_beside_or_above_the_inputs(tmp_path: Path) -> None:
    inputs = tmp_path / "data" / "in"
    inputs.mkdir(parents=True)
    assert find_synsets(inputs) is None
    (tmp_path / "data" / "synset_words.txt").write_text("x\n")
    assert find_synsets(inputs) == tmp_path / "data" / "synset_words.txt"
    (inputs / "synset_words.txt").mkdir()  # a folder is not a list
    assert find_synsets(inputs) == tmp_path / "data" / "synset_words.txt"
    (inputs / "synset_words.txt").rmdir()
    (inputs / "synset_words.txt").write_text("x\n")
    assert find_synsets(inputs) == inputs / "synset_words.txt"


def test_a_model_by_name_takes_the_synset_words_beside_the_inputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "lltd_mean_net.py").write_text(MEAN_NET)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "lltd_mean_net", raising=False)
    inputs = tmp_path / "in"
    gray(inputs / "n00000001 dark.png", 80)
    (tmp_path / "synset_words.txt").write_text(
        "n00000001 dark, black\nn00000002 mid\nn00000003 bright\n"
    )
    options = AttackOptions(model="lltd_mean_net:build", attack="fgsm", epsilon=0.25,
                            device="cpu")  # fmt: skip
    report = attack_folder(inputs, tmp_path / "out", options)
    assert (report.classifier, report.device, report.input_size) == (
        "lltd_mean_net:build",
        "cpu",
        8,
    )
    (record,) = report.records
    assert (record.status, record.output) == ("ok", "Adv_n00000001 dark-n00000002 mid.png")
    single = attack_folder(inputs / "n00000001 dark.png", tmp_path / "one", options)
    assert single.records[0].output == "Adv_n00000001 dark-n00000002 mid.png"  # found above it
    (tmp_path / "synset_words.txt").write_text("n00000001 dark\n")  # not for this model: ignored
    report = attack_folder(inputs, tmp_path / "out2", options)
    assert report.records[0].output == "Adv_0-1.png"  # the factory's classes: 0, 1, 2
    strict = AttackOptions(model="lltd_mean_net:build", attack="fgsm", epsilon=0.25,
                           device="cpu", synsets=tmp_path / "synset_words.txt")  # fmt: skip
    with pytest.raises(UsageError):
        attack_folder(inputs, tmp_path / "out3", strict)


def test_writes_that_fail_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    missing = tmp_path / "file" / "m.csv"  # under a regular file: no folder can be made there
    why = os.strerror(errno.ENOTDIR)  # a file where a folder should be: "Not a directory"
    with pytest.raises(LltdError) as caught:
        write_manifest_csv([], missing)
    assert str(caught.value) == f"{missing}: cannot write: {why}"
    with pytest.raises(LltdError) as caught:
        write_json(AttackReport(tmp_path, tmp_path, AttackOptions(), "m", "cpu", 8, None), missing)
    assert str(caught.value) == f"{missing}: cannot write: {why}"
    png = tmp_path / "file" / "a.png"
    with pytest.raises(LltdError) as caught:
        attack_run._save_png(torch.zeros(3, 8, 8), png)
    assert str(caught.value) == f"{png}: cannot write: {why}"
    assert list(tmp_path.iterdir()) == [tmp_path / "file"]


def test_a_saved_file_is_classified_as_read_back(tmp_path: Path) -> None:
    path = gray(tmp_path / "x.png", 200)
    assert attack_run._classify_file(path, classifier()) == 2
    gray(tmp_path / "y.png", 100)
    assert attack_run._classify_file(tmp_path / "y.png", classifier()) == 1


def test_norms_are_of_the_8_bit_pixels() -> None:
    clean = torch.full((3, 2, 2), 10 / 255)
    adversarial = clean.clone()
    adversarial[0, 0, 0] = 13.4 / 255  # 3 levels once rounded
    adversarial[1, 1, 1] = 6 / 255  # -4 levels
    assert attack_run._norms(clean, adversarial) == (5.0, 4.0)
    task = attack_run._inputs(Path(__file__), Path("/nonexistent"))
    assert task == [Task(Path(__file__), Path(Path(__file__).name))]
