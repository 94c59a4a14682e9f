"""The fixed schedule's length E, picked on validation error only (docs/reproduction.md, "The fixed
schedule"): for each searched E, the mean over methods of each method's mean best-validation error
over its seeds; the lowest wins, a tie goes to the shorter E (scores compared rounded to 9
decimals, so that equal error counts tie whatever the float sums).  Rows are read as the sweeps
read them (one per method, value and seed: the first recorded), the defaults' network (k = 2)
only.  Prints E; exits 3 while any searched run is missing (a lane waits on that: a status of
its own, as Python exits 1 on any error), 2 when a run diverged at every E.

    python results/reproduction/pick_schedule.py results/reproduction/step-E60 step-E100 ...
"""

import json
import math
import sys
from pathlib import Path

METHODS, SEEDS, VALUE = ("ddse", "fc"), (0,), 2
NOT_YET = 3  # the exit status while a searched run is missing


def first_rows(directory: Path) -> list:
    """The rows of ``results.jsonl`` as ``ResultsFile.rows`` reads them: the first of each cell,
    lines cut by a crash skipped.  Written out here because run_fixed.sh runs this script with
    the system's python3, where ddse_np may not be importable."""
    path, seen, rows = directory / "results.jsonl", set(), []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        cell = (row["method"], row["value"], row["seed"])
        if cell not in seen:
            seen.add(cell)
            rows.append(row)
    return rows


def score(directory: Path):
    """The mean of the methods' mean best-validation errors (%), inf when a run diverged, None
    while one is missing."""
    rows = [r for r in first_rows(directory) if r["value"] == VALUE]
    means = []
    for method in METHODS:
        errors = {
            r["seed"]: r.get("val_error")
            for r in rows
            if r["method"] == method and r["seed"] in SEEDS
        }
        if set(errors) != set(SEEDS):
            return None  # not run yet
        if any(e is None for e in errors.values()):
            return float("inf")  # a diverged run: this E is not eligible
        means.append(sum(errors.values()) / len(errors))
    return round(sum(means) / len(means), 9)


def main(directories):
    scores = {}
    for name in directories:
        directory = Path(name)
        if not directory.is_dir() and not name.startswith("results/"):
            directory = Path("results/reproduction") / name
        epochs = int(directory.name.rsplit("E", 1)[1])
        scores[epochs] = score(directory)
        print(
            f"E = {epochs}: mean validation error "
            f"{'not run yet' if scores[epochs] is None else f'{scores[epochs]:.3f}%'}",
            file=sys.stderr,
        )
    if any(s is None for s in scores.values()):
        return NOT_YET
    if all(math.isinf(s) for s in scores.values()):
        print("a run diverged at every E: no schedule to pick", file=sys.stderr)
        return 2
    print(min(scores, key=lambda e: (scores[e], e)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
