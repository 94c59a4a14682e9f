"""The exact McNemar test of DDSE against each baseline on one seed's pair of checkpoints
(docs/reproduction.md, "The amended protocol"), appended to ``mcnemar-seed<S>.jsonl`` of the
sweep directory: one line per pair, with the counts, the p-value and the command that remakes it.

    python results/reproduction/mcnemar.py results/reproduction/step-E150 --seed 2

Pairs already in the file, or whose checkpoints are not there (yet), are left out; run it again
as the runs land.  The checkpoints are git-ignored; the counts, once recorded, are not.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

BASELINES = {
    "fc": "I",
    "fc-dropout": "II",
    "fc-dropconnect": "III",
    "lista": "IV",
    "ddse-noskip": "V",
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("directory", type=Path)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--value", default="2", help="the sweep value of the cell (depth: k = 2)")
    p.add_argument("--ddse", default="ddse", help="the ddse command to run (default: on PATH)")
    args = p.parse_args(argv)
    out = args.directory / f"mcnemar-seed{args.seed}.jsonl"
    done = (
        {json.loads(line)["baseline"] for line in out.read_text().splitlines()}
        if out.exists()
        else set()
    )
    ddse = args.directory / f"ddse-{args.value}-seed{args.seed}.h5"
    for method, name in BASELINES.items():
        other = args.directory / f"{method}-{args.value}-seed{args.seed}.h5"
        if method in done or not (ddse.exists() and other.exists()):
            continue
        command = [args.ddse, "compare", str(ddse), str(other), "--json"]
        result = json.loads(
            subprocess.run(command, capture_output=True, text=True, check=True).stdout
        )
        row = dict(
            pair=f"DDSE seed {args.seed} vs {name} ({method}) seed {args.seed}",
            baseline=method,
            error_ddse=result["error_a"],
            error_baseline=result["error_b"],
            only_ddse_wrong=result["only_b"],
            only_baseline_wrong=result["only_a"],
            p_value=result["p_value"],
            command=" ".join(["ddse", *command[1:]]),
        )
        with out.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"{row['pair']}: p = {row['p_value']:.3g}", file=sys.stderr)


if __name__ == "__main__":
    main()
