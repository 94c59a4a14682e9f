"""The fixed schedule's length E, picked on validation error only (docs/reproduction.md, "The fixed
schedule"): for each searched E, the mean over methods of each method's mean best-validation error
over its seeds; the lowest wins, a tie goes to the shorter E.  Prints E, or exits 1 while any
searched run is missing (a lane waits on that).

    python results/reproduction/pick_schedule.py results/reproduction/step-E60 step-E100 ...
"""

import json
import sys
from pathlib import Path

METHODS, SEEDS = ("ddse", "fc"), (0,)


def score(directory: Path):
    path = directory / "results.jsonl"
    rows = (
        [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if path.exists()
        else []
    )
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
    return sum(means) / len(means)


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
        return 1
    print(min(scores, key=lambda e: (scores[e], e)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
