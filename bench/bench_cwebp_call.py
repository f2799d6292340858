"""Per-call cost of ``lltd cwebp`` against cwebp itself, as a shell loop calls them.

Paired runs: in every round, each variant encodes the same 299x299 PNG once (``-q 60``, a fresh
output file), one after the other, so a burst of background load hits all of them alike. The
figure is the median over rounds of each variant's wall time divided by cwebp's in the same round.

Variants: ``cwebp`` itself; ``lltd cwebp`` through the script exactly as pip installs it
(``bin/lltd``), in this interpreter's environment (the development venv: an editable install,
whose import finder costs every Python start about 8 ms): the default backend (cwebp, spawned by
the lean path) and ``--backend pillow``; ``python -m lltd cwebp``; and the floor under any Python
implementation: ``python -c pass``, ``python -I -S -c pass`` (no site, no editable-install
finder) and ``python -c 'from PIL import Image, PngImagePlugin, WebPImagePlugin'``, plus typer's
import for scale. ``--wheel`` adds the same two ``lltd cwebp`` calls and ``python -c pass`` from a
plain install: a wheel of this tree installed with ``--no-deps`` into a fresh venv under
``bench/out`` (built once, offline, with this venv's setuptools), that finds Pillow through a
``.pth`` line naming this venv's site-packages (a path, so none of its ``.pth`` files run).
``--compat`` adds them from this tree installed editable in ``editable_mode=compat`` (as
``.ci/setup`` now installs it) in another such venv.

Target (issue 15): ``lltd cwebp`` within 2.5x of cwebp's wall time per call.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

from timing import OUT, children_cpu, compile_lltd, cwebp_binary, machine_note, table

ROOT = Path(__file__).resolve().parents[1]


def console_script() -> Path:
    """What ``pip install`` writes for ``bin/lltd`` (pyproject's ``script-files``): the file,
    its ``#!python`` line naming this interpreter."""
    path = OUT / "bin" / "lltd"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = (ROOT / "bin" / "lltd").read_text()
    path.write_text(text.replace("#!python", f"#!{sys.executable}", 1))
    path.chmod(0o755)
    return path


def wheel_venv() -> Path:
    """A venv with a wheel of this tree installed (``--no-deps``): the console script a plain
    ``pip install lltd`` writes, with no editable finder. The venv is made once; the wheel is
    rebuilt and reinstalled on every run, so it is this tree's code. Offline."""
    venv = OUT / "wheel-venv"
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    wheels = OUT / "wheel"
    shutil.rmtree(wheels, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "-w", str(wheels), str(ROOT)], check=True)  # fmt: skip
    (wheel,) = wheels.glob("lltd-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                    "install", "--quiet", "--no-deps", "--force-reinstall", "--compile",
                    str(wheel)], check=True)  # fmt: skip
    here = Path(sysconfig.get_paths()["purelib"])
    (there,) = (venv / "lib").glob("python*/site-packages")
    (there / "dev-venv-packages.pth").write_text(f"{here}\n")  # Pillow, typer: a path only
    return venv


def compat_venv() -> Path:
    """A venv with this tree installed editable in ``editable_mode=compat`` (what ``.ci/setup``
    does): a path in a ``.pth`` instead of the import finder. Offline, ``--no-deps``; the
    ``lltd.egg-info`` it leaves in the checkout is git-ignored."""
    venv = OUT / "compat-venv"
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    here = Path(sysconfig.get_paths()["purelib"])
    (there,) = (venv / "lib").glob("python*/site-packages")
    # Pillow, typer, and the setuptools the offline build below needs: a path only.
    (there / "dev-venv-packages.pth").write_text(f"{here}\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                    "install", "--quiet", "--no-deps", "--no-build-isolation", "-e", str(ROOT),
                    "--config-settings", "editable_mode=compat"], check=True)  # fmt: skip
    return venv


def variants(source: Path, out: Path, wheel: bool, compat: bool = False) -> dict[str, list[str]]:
    script, python = str(console_script()), sys.executable
    target = str(out / "out.webp")
    encode = ["-q", "60", str(source), "-o", target]
    pil = "from PIL import Image, PngImagePlugin, WebPImagePlugin"
    runs = {
        "cwebp": [cwebp_binary(), "-quiet", *encode],
        "lltd cwebp (default: cwebp)": [script, "cwebp", *encode],
        "lltd cwebp --backend pillow": [script, "cwebp", "--backend", "pillow", *encode],
        "python -m lltd cwebp": [python, "-m", "lltd", "cwebp", *encode],
        "python -c pass": [python, "-c", "pass"],
        "python -I -S -c pass": [python, "-I", "-S", "-c", "pass"],
        "python: import PIL (png, webp)": [python, "-c", pil],
        "python: import typer": [python, "-c", "import typer"],
    }
    if wheel:
        venv = wheel_venv()
        installed = str(venv / "bin" / "lltd")
        runs["wheel: lltd cwebp (default: cwebp)"] = [installed, "cwebp", *encode]
        runs["wheel: lltd cwebp --backend pillow"] = [installed, "cwebp", "--backend", "pillow",
                                                      *encode]  # fmt: skip
        runs["wheel: python -c pass"] = [str(venv / "bin" / "python"), "-c", "pass"]
    if compat:
        venv = compat_venv()
        runs["compat: lltd cwebp (default: cwebp)"] = [str(venv / "bin" / "lltd"), "cwebp",
                                                       *encode]  # fmt: skip
        runs["compat: python -c pass"] = [str(venv / "bin" / "python"), "-c", "pass"]
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--wheel", action="store_true", help="also from a plain (wheel) install")
    parser.add_argument(
        "--compat", action="store_true", help="also from an editable install in compat mode"
    )
    args = parser.parse_args()
    compile_lltd()
    source = ROOT / "sample_data" / "astronaut.png"  # a 299x299 RGB PNG
    out = OUT / "cwebp-call"
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    runs = variants(source, out, args.wheel, args.compat)
    plain_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    times: dict[str, list[float]] = {name: [] for name in runs}
    cpus: dict[str, list[float]] = {name: [] for name in runs}  # user + sys, the whole tree
    for round_index in range(args.rounds + 2):  # two warm-up rounds (page cache, .pyc)
        for name, argv in runs.items():
            (out / "out.webp").unlink(missing_ok=True)
            cpu0, start = children_cpu(), time.perf_counter()
            # The wheel's own copy of lltd, not this tree's through PYTHONPATH.
            run_env = plain_env if name.startswith(("wheel:", "compat:")) else env
            subprocess.run(argv, env=run_env, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)  # fmt: skip
            if round_index >= 2:
                times[name].append(time.perf_counter() - start)
                cpus[name].append(children_cpu() - cpu0)
    cwebp, cwebp_cpu = times["cwebp"], statistics.median(cpus["cwebp"])
    rows = []
    for name, samples in times.items():
        ratios = [t / c for t, c in zip(samples, cwebp, strict=True)]
        cpu = statistics.median(cpus[name])
        rows.append([name, statistics.median(samples) * 1e3, min(samples) * 1e3,
                     statistics.median(ratios), cpu * 1e3, cpu / cwebp_cpu])  # fmt: skip
    print(f"# bench_cwebp_call\n\n{machine_note()}; {args.rounds} paired rounds; input "
          f"{source.name} (299x299 PNG, {source.stat().st_size} bytes)\n")  # fmt: skip
    headers = ["variant", "median ms", "best ms", "x cwebp (median of pairs)", "CPU ms (median)",
               "CPU x cwebp"]  # fmt: skip
    print(table(headers, rows))
    print()
    for name in times:
        if name.startswith(("lltd cwebp", "wheel: lltd", "compat: lltd")):
            ratio = statistics.median(t / c for t, c in zip(times[name], cwebp, strict=True))
            print(f"{name} per call: {ratio:.2f}x cwebp   [target <= 2.5x]")


if __name__ == "__main__":
    main()
