"""Start-up time of the console script: ``nuclei-collection --help`` and ``nuclei-collection list``.

Runs the entry point declared in pyproject.toml (``[project.scripts]``) the way the
installed script does (import the module, call the function), in fresh processes, and
prints the best wall time of ``--repeat`` runs per command plus the slowest imports of one
``python -X importtime`` run. ``--entry module:function`` times another entry point (e.g.
the former ``nuclei_collection:main``) for comparison.

    python bench/cli_startup.py --repeat 5
    python bench/cli_startup.py --repeat 5 --entry nuclei_collection:main
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = None

PROJECT_ROOT = Path(__file__).resolve().parents[1]
COMMANDS = (("--help",), ("list",))
HEAVY = ("datasets", "pyarrow", "scipy", "pandas", "torch")


def declared_entry_point() -> str:
    text = (PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    if tomllib is not None:
        return tomllib.loads(text)["project"]["scripts"]["nuclei-collection"]
    return re.search(r'^nuclei-collection = "([^"]+)"', text, re.MULTILINE).group(1)


def script(entry: str) -> str:
    module, function = entry.split(":")
    return f"import sys; from {module} import {function} as main; sys.exit(main())"


def wall_time(entry: str, args: tuple[str, ...], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", script(entry), *args], check=True, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return best


def import_profile(entry: str, args: tuple[str, ...], top: int) -> tuple[list[tuple[int, str]], list[str]]:
    """(cumulative µs, module) of the slowest imports, and which heavy packages got imported."""
    module, function = entry.split(":")
    code = (
        f"import contextlib, io, sys\nfrom {module} import {function} as main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        main()\n    except SystemExit:\n        pass\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, *args], capture_output=True, text=True, check=True
    )
    rows = []
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|(\s*)(\S+)", line)
        if match and len(match.group(2)) <= 3:  # top-level and first-level imports only
            rows.append((int(match.group(1)), match.group(2).strip() + match.group(3)))
    heavy = result.stdout.strip().splitlines()[-1]
    return sorted(rows, reverse=True)[:top], heavy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--entry", help="module:function (default: the one in pyproject.toml)")
    parser.add_argument("--top", type=int, default=6, help="slowest imports listed per command")
    args = parser.parse_args()
    entry = args.entry or declared_entry_point()
    print(f"python {sys.version.split()[0]}, entry point {entry}, best of {args.repeat} fresh processes")
    print()
    print("| command | wall time (s) | heavy packages imported |")
    print("|---|---|---|")
    profiles = {}
    for command in COMMANDS:
        seconds = wall_time(entry, command, args.repeat)
        profiles[command] = import_profile(entry, command, args.top)
        print(f"| `nuclei-collection {' '.join(command)}` | {seconds:.2f} | {profiles[command][1]} |")
    for command, (rows, _) in profiles.items():
        print(f"\nslowest imports, `{' '.join(command)}` (cumulative ms):")
        for micros, module in rows:
            print(f"  {micros / 1000:8.1f}  {module}")


if __name__ == "__main__":
    main()
