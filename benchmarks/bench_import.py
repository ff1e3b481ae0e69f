"""Import time of ``nucseg_zoo`` on this machine: best of N fresh interpreters per statement.

    python benchmarks/bench_import.py [--repeats 5]

Each row runs ``python -c STATEMENT`` in a new process ``--repeats`` times and reports the
best and the median wall time (interpreter start-up included; ``python -c pass`` is the
floor). Target: ``import nucseg_zoo`` ≤ 0.2 s. ``python -X importtime -c "import nucseg_zoo"``
shows where the time goes.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

STATEMENTS = (
    "pass",
    "import nucseg_zoo",
    "import nucseg_zoo.errors",
    "import nucseg_zoo.segmenters",
    "import nucseg_zoo.datasets",
    "import nucseg_zoo.evaluation",
)
TARGET_S = 0.2


def cpu_name() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``, else what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def wall_seconds(statement: str, repeats: int) -> list[float]:
    """Wall times of ``repeats`` fresh ``python -c statement`` processes."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], check=True)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"CPU: {cpu_name()}, Python {platform.python_version()}, best / median of {args.repeats} fresh processes")
    print(f"{'statement':<32} {'best s':>7} {'median s':>9}")
    for statement in STATEMENTS:
        times = wall_seconds(statement, args.repeats)
        print(f"{statement:<32} {min(times):>7.3f} {statistics.median(times):>9.3f}")
    print(f"target: import nucseg_zoo <= {TARGET_S} s")


if __name__ == "__main__":
    main()
