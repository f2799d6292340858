"""Start-up time of the CLI: ``lltd --help`` and ``lltd compress --help`` (target < 0.3 s,
issue 2), ``python -c "import lltd"``, and the interpreter's own floor, interleaved.

With ``--imports`` it also lists the slowest imports of ``lltd compress --help``
(``python -X importtime``), which is where start-up time goes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from timing import interleave, lltd_argv, machine_note, run_timed, table

TARGET = 0.3


def slowest_imports(argv: list[str], count: int = 12) -> str:
    """Top-level packages by cumulative import time (one run of ``-X importtime``)."""
    command = [sys.executable, "-X", "importtime", "-m", "lltd", *argv]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    totals: dict[str, int] = {}
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (part.strip() for part in line[len("import time:") :].split("|"))
        if cumulative.isdigit() and not name.startswith(" "):
            top = name.split(".")[0]
            # the outermost import of a package carries its whole cumulative time
            totals[top] = max(totals.get(top, 0), int(cumulative))
    rows = sorted(totals.items(), key=lambda item: -item[1])[:count]
    return table(["package", "cumulative import ms"], [[k, v / 1e3] for k, v in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="recorded runs per command")
    parser.add_argument("--imports", action="store_true", help="also list the slowest imports")
    args = parser.parse_args()
    lltd = lltd_argv()
    commands = {
        "python -c pass (floor)": [sys.executable, "-c", "pass"],
        'python -c "import lltd"': [sys.executable, "-c", "import lltd"],
        "lltd --help": [*lltd, "--help"],
        "lltd compress --help": [*lltd, "compress", "--help"],
        "lltd defend --help": [*lltd, "defend", "--help"],
    }
    series = interleave({k: (lambda a=a: run_timed(a)) for k, a in commands.items()},
                        args.runs, warmup=2)  # fmt: skip
    print(f"# bench_startup\n\n{machine_note()}; {args.runs} runs each, interleaved, after 2 "
          f"warm-up runs; lltd = {' '.join(lltd)}\n")  # fmt: skip
    rows = [[k, s.median, s.best, max(x.wall for x in s.samples), s.cpu]
            for k, s in series.items()]  # fmt: skip
    print(table(["command", "median s", "best s", "worst s", "CPU s"], rows))
    ok = all(series[k].median < TARGET for k in ("lltd --help", "lltd compress --help"))
    print(f"\nlltd --help and lltd compress --help under {TARGET} s (median): "
          f"{'yes' if ok else 'NO'}")  # fmt: skip
    if args.imports:
        print("\n### Slowest imports of `lltd compress --help` (one run)\n")
        print(slowest_imports(["compress", "--help"]))


if __name__ == "__main__":
    main()
