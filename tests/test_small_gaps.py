"""Issue 26 item 8, one test each: a dry run that said "would convert" for a file the run
fails; ``defend -q`` beside ``--quality-range``; ``lltd cwebp -print_psnr`` naming its
temporary; ``--epsilon`` with DeepFool among the attacks; compress's ``.error.txt`` made
opt-in; serve and curl's default content type; evaluate's table on 80 columns."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from conftest import RunLltd, assert_one_line_error
from PIL import Image


def _truncated_png(path: Path) -> Path:
    """A PNG whose header reads (a listing or a header check would pass it) but whose pixel
    data stops half-way: only decoding finds out."""
    buffer = io.BytesIO()
    Image.effect_noise((64, 64), 60).convert("RGB").save(buffer, "PNG")
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    return path


@pytest.mark.parametrize("command", ["compress", "flip", "defend"])
def test_dry_run_says_would_fail_for_what_the_run_fails(
    command, run_lltd: RunLltd, make_image, tmp_path
) -> None:
    folder = tmp_path / "in"
    make_image(folder / "good.png")
    bad = _truncated_png(folder / "cut.png")
    argv = [command, folder, "-o", tmp_path / "out"]
    dry = run_lltd(*argv, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert [line for line in lines if line.startswith(f"would fail: {bad}: ")], dry.stdout
    assert not [line for line in lines if line.startswith("would ") and "cut.png ->" in line]
    assert "1 would fail" in lines[-1]
    real = run_lltd(*argv)
    assert real.returncode == 1
    assert_one_line_error(real.stderr, "lltd: failed: ", str(bad))


def test_defend_refuses_a_quality_beside_a_quality_range(run_lltd: RunLltd, make_image, tmp_path):
    make_image(tmp_path / "in" / "a.png")
    both = run_lltd("defend", tmp_path / "in", "-o", tmp_path / "out", "-q", "60",
                    "--quality-range", "40-80")  # fmt: skip
    assert both.returncode == 2
    assert_one_line_error(both.stderr, "--quality-range 40-80", "-q/--quality 60", "ignored")
    assert not (tmp_path / "out").exists()
    alone = run_lltd("defend", tmp_path / "in", "-o", tmp_path / "out", "--quality-range",
                     "40-80", "--dry-run")  # fmt: skip
    assert alone.returncode == 0, alone.stderr


@pytest.mark.skipif(shutil.which("cwebp") is None, reason="needs cwebp (Debian's webp)")
@pytest.mark.parametrize("kind", ["png", "bmp"])  # the lean path; the full path (cwebp via PNG)
def test_cwebp_print_psnr_names_the_destination(kind, run_lltd: RunLltd, make_image, tmp_path):
    source = tmp_path / f"a.{kind}"
    Image.effect_noise((32, 24), 40).convert("RGB").save(source)
    out = tmp_path / "a.webp"
    result = run_lltd("cwebp", "--backend", "cwebp", "-print_psnr", source, "-o", out)
    assert result.returncode == 0, result.stderr
    assert f"Saving file '{out}'" in result.stderr, result.stderr
    assert f"File:      {source}" in result.stderr
    assert "lltd-tmp" not in result.stderr and "lltd-cwebp-" not in result.stderr
    assert out.read_bytes()[:4] == b"RIFF"


def test_evaluate_applies_epsilon_to_the_attacks_that_take_one() -> None:
    pytest.importorskip("torch")
    from lltd.common.errors import UsageError
    from lltd.evaluate.run import EvaluateOptions

    options = EvaluateOptions(epsilon=4 / 255)  # default attacks: deepfool, fgsm, pgd, cw
    options.validate()
    assert options.epsilon_for("fgsm") == options.epsilon_for("pgd") == 4 / 255
    assert options.epsilon_for("deepfool") is None and options.epsilon_for("cw") is None
    with pytest.raises(UsageError, match="none of the attacks"):
        EvaluateOptions(attacks=("deepfool", "cw"), epsilon=4 / 255).validate()
    EvaluateOptions(attacks=("deepfool",), epsilon=4 / 255, adaptive=True).validate()


@pytest.mark.parametrize(
    ("value", "needle"),
    [("4/255x", "--epsilon: '4/255x' is not a number or a fraction"), ("1/0", "'1/0'")],
)
def test_epsilon_takes_fractions_and_refuses_in_one_line(value, needle, run_lltd, tmp_path):
    result = run_lltd("attack", tmp_path, "-o", tmp_path / "out", "--epsilon", value)
    assert result.returncode == 2
    assert_one_line_error(result.stderr, needle)
    assert "Usage:" not in result.stderr


def test_compress_reason_files_are_opt_in(run_lltd: RunLltd, make_image, tmp_path) -> None:
    folder = tmp_path / "in"
    make_image(folder / "good.png")
    (folder / "broken.png").write_bytes(b"no image here")
    plain = run_lltd("compress", folder, "-q", "60", "-o", tmp_path / "plain")
    assert plain.returncode == 1
    assert_one_line_error(plain.stderr, "broken.png")  # the reason is in the log
    failed = tmp_path / "plain" / "failed"
    assert sorted(p.name for p in failed.iterdir()) == ["broken.png"]  # as webp-converter
    asked = run_lltd("compress", folder, "-q", "60", "-o", tmp_path / "asked", "--reason-files")
    assert asked.returncode == 1
    reason = (tmp_path / "asked" / "failed" / "broken.png.error.txt").read_text()
    assert reason.startswith(f"{folder / 'broken.png'}: ")


def test_serve_takes_curls_default_content_type() -> None:
    pytest.importorskip("starlette")
    from serve_helpers import png_pixels, running

    buffer = io.BytesIO()
    Image.linear_gradient("L").resize((40, 30)).convert("RGB").save(buffer, "PNG")
    with running() as server:
        as_png = server.defend(buffer.getvalue(), "image/png")
        as_form = server.defend(buffer.getvalue(), "application/x-www-form-urlencoded")
    assert as_png[0] == as_form[0] == 200, as_form
    assert png_pixels(as_form[2]) == png_pixels(as_png[2])


def test_evaluate_table_fits_80_columns() -> None:
    from lltd.evaluate.terminal import table_lines

    attacks = ["none", "deepfool", "fgsm", "pgd", "cw", "precomputed:adversarial-deepfool",
               "precomputed:adversarial-fgsm", "bpda-pgd", "square"]  # fmt: skip
    defenses = {"none": "none", "webp": "webp q60", "webp+flip": "webp q60 + flip",
                "randomized": "webp q40-80 + flip random + resize-pad 0.15"}  # fmt: skip
    rows = [
        {"attack": a, "defense": d, "accuracy": (i * 7 + j) % 100 / 100, "n": 60}
        for i, a in enumerate(attacks)
        for j, d in enumerate(defenses)
    ]
    report = {
        "model": "reference", "data": "reference:test", "n_images": 60, "rows": rows,
        "parameters": {"defense_labels": defenses},
        "worst_case": {d: {"accuracy": 0.125} for d in defenses},
    }  # fmt: skip
    lines = table_lines(report, 80)
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    text = "\n".join(lines)
    for label in defenses.values():  # whole labels, no "deep…" or "prec…"
        assert text.count(f"\n{label} ") >= 1, label
    assert "…" not in text
    for attack in attacks[1:]:  # every attack is named in the legend
        assert f"= {attack}" in text, attack
    header = next(line for line in lines if line.startswith("defense"))
    row = next(line for line in lines if line.startswith("webp q60 + flip "))
    # The cell under DF on the webp q60 + flip row is that row's deepfool accuracy: (7 + 2)%.
    values = row[len("webp q60 + flip") :].split()
    assert values[header.split().index("DF") - 1] == "9.0"
