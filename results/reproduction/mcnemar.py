"""The exact McNemar test of DDSE against each baseline on one seed's pair of runs
(docs/reproduction.md, "The amended protocol"), from the runs' committed test predictions.

    python results/reproduction/mcnemar.py results/reproduction/step-E150 --seed 2

First, every checkpoint of the sweep directory (``METHOD-VALUE-seedS.h5``, git-ignored) whose
predictions are not yet there gets them: ``ddse predict CHECKPOINT predictions/STEM.npy`` (10,000
uint8 classes, 10 kB, committed), checked against the test error its row in ``results.jsonl``
records.  Then each pair of DDSE and a baseline at ``--seed`` with both predictions there is
tested and appended to ``mcnemar-seed<S>.jsonl``: the sweep value, the counts, the p-value
(two-sided exact binomial test, ``ddse_np.nn.evaluate.mcnemar``, as ``ddse compare``) and the
command.  Each predictions file is checked against its run's row (read as the sweeps read rows:
the first of each cell) before it is tested: a file without a row, or whose test error is not
the row's, stops the script.  Pairs already in the file or not yet run are left out; run it
again as the runs land.  The predictions outlive the
checkpoints, so a pair can be tested on another machine than the one that trained it.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from ddse_np.data.mnist import BUNDLED_MNIST, load_split
from ddse_np.experiments.jobs import job_file_name
from ddse_np.experiments.results_file import ResultsFile
from ddse_np.nn.evaluate import mcnemar

BASELINES = {
    "fc": "I",
    "fc-dropout": "II",
    "fc-dropconnect": "III",
    "lista": "IV",
    "ddse-noskip": "V",
}


def recorded_errors(directory: Path) -> dict:
    """Run stem (METHOD-VALUE-seedS) -> the test error (%) its row records (None: it diverged)."""
    if not (directory / "results.jsonl").exists():
        sys.exit(f"{directory}: no results.jsonl (not a sweep directory, or no run has landed)")
    return {
        Path(job_file_name(r)).stem: r["test_error"] for r in ResultsFile(directory, None).rows()
    }


def checked(path: Path, recorded: dict, labels) -> np.ndarray:
    """The predictions in ``path``, refused unless they give the test error of their run's row."""
    predicted = np.load(path)
    error = 100.0 * float((predicted != labels).mean())
    if recorded.get(path.stem) is None:
        sys.exit(f"{path}: no finished run of that name in results.jsonl")
    if abs(error - recorded[path.stem]) > 1e-6:
        sys.exit(
            f"{path}: gives {error:.2f}% test error, its row {recorded[path.stem]:.2f}%: "
            "not the run of that row"
        )
    return predicted


def predictions(directory: Path, ddse: str) -> Path:
    """Write the missing predictions of ``directory``'s checkpoints; returns their folder."""
    folder = directory / "predictions"
    recorded = recorded_errors(directory)
    folder.mkdir(exist_ok=True)
    labels = load_split(BUNDLED_MNIST, "test").labels
    for checkpoint in sorted(directory.glob("*.h5")):
        out = folder / f"{checkpoint.stem}.npy"
        if out.exists() or recorded.get(checkpoint.stem) is None:  # done, diverged or not landed
            continue
        done = subprocess.run([ddse, "predict", str(checkpoint), str(out)])
        if done.returncode != 0:
            sys.exit(f"{checkpoint}: ddse predict failed (status {done.returncode})")
        error = 100.0 * float((np.load(out) != labels).mean())
        if abs(error - recorded[checkpoint.stem]) > 1e-6:
            out.unlink()
            sys.exit(
                f"{checkpoint}: its predictions give {error:.2f}% test error, "
                f"its row {recorded[checkpoint.stem]:.2f}%: not the run of that row"
            )
    return folder


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("directory", type=Path)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--value", default="2", help="the sweep value of the cell (depth: k = 2)")
    p.add_argument("--ddse", default="ddse", help="the ddse command to run (default: on PATH)")
    args = p.parse_args(argv)
    folder = predictions(args.directory, args.ddse)
    out = args.directory / f"mcnemar-seed{args.seed}.jsonl"
    done = set()
    for line in out.read_text().splitlines() if out.exists() else []:
        pair = json.loads(line)
        done.add((pair["baseline"], str(pair.get("value", "2"))))  # before values: all k = 2
    recorded = recorded_errors(args.directory)
    labels = load_split(BUNDLED_MNIST, "test").labels
    ddse = folder / f"ddse-{args.value}-seed{args.seed}.npy"
    for method, name in BASELINES.items():
        other = folder / f"{method}-{args.value}-seed{args.seed}.npy"
        if (method, args.value) in done or not (ddse.exists() and other.exists()):
            continue
        right_ddse = checked(ddse, recorded, labels) == labels
        right_other = checked(other, recorded, labels) == labels
        test = mcnemar(right_ddse, right_other)
        row = dict(
            pair=f"DDSE seed {args.seed} vs {name} ({method}) seed {args.seed}",
            baseline=method,
            value=args.value,
            error_ddse=100.0 * float((~right_ddse).mean()),
            error_baseline=100.0 * float((~right_other).mean()),
            only_ddse_wrong=test["only_b"],
            only_baseline_wrong=test["only_a"],
            p_value=test["p_value"],
            command=(
                f"python results/reproduction/mcnemar.py {args.directory} --seed {args.seed} "
                f"--value {args.value}"
            ),
        )
        with out.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"{row['pair']}: p = {row['p_value']:.3g}", file=sys.stderr)


if __name__ == "__main__":
    main()
