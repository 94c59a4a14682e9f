"""The defaults' table of the amended protocol (docs/reproduction.md; the README's headline once
every run has landed), from a sweep directory's results and its McNemar pairs.

    python results/reproduction/headline.py results/reproduction/step-E150 --mcnemar-seed 2
    python results/reproduction/headline.py ... --into docs/reproduction.md --marker step-defaults

One line per method (DDSE first, then I-V): its learning rate (``sweep.json``'s), the seeds
whose rows have landed (of ``--seeds``), mean ± sample standard deviation (ddof 1) of test and
validation error (%), epochs and minutes per run over those seeds, and the exact McNemar test
of DDSE against the baseline on ``--mcnemar-seed``'s pair (``mcnemar-seed<S>.jsonl``, written
by mcnemar.py): the p-value and the test images only DDSE got wrong / only the baseline got
wrong.  With ``--into`` the table replaces what lies between ``<!-- MARKER:start -->`` and
``<!-- MARKER:end -->`` of that file (written whole to a temporary file, then renamed);
without, it is printed.
"""

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from ddse_np.experiments.report import mean_std
from ddse_np.experiments.results_file import ResultsFile

METHODS = {
    "ddse": "DDSE",
    "fc": "I (fc)",
    "fc-dropout": "II (dropout)",
    "fc-dropconnect": "III (DropConnect)",
    "lista": "IV (LISTA)",
    "ddse-noskip": "V (no shortcuts)",
}


def read_jsonl(path: Path) -> list:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def table(directory: Path, seeds: int, mcnemar_seed: int, value=2) -> str:
    """The markdown table of the cell ``value`` (the defaults' k = 2) of a sweep directory."""
    rows = [r for r in ResultsFile(directory, None).rows() if r["value"] == value]
    settings = json.loads((directory / "sweep.json").read_text()).get("method_settings", {})
    pairs_file = directory / f"mcnemar-seed{mcnemar_seed}.jsonl"
    pairs = read_jsonl(pairs_file) if pairs_file.exists() else []
    pairs = {  # lines of other formats (no baseline) left out; before values, all were k = 2
        p["baseline"]: p for p in pairs if "baseline" in p and str(p.get("value", 2)) == str(value)
    }
    lines = [
        "| method | lr | seeds done | test error % | validation error % | epochs | minutes per run "
        f"| McNemar p, seed {mcnemar_seed} against DDSE (errors only DDSE / only the baseline) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for method, name in METHODS.items():
        mine = sorted((r for r in rows if r["method"] == method), key=lambda r: r["seed"])
        done = [r for r in mine if r.get("test_error") is not None]
        diverged = len(mine) - len(done)
        lrs = sorted({r["lr"] for r in mine} or {settings.get(method, {}).get("lr", "")})
        seed_list = ", ".join(str(r["seed"]) for r in done)
        pair = pairs.get(method)
        mcnemar = ""
        if pair:
            p = f"{pair['p_value']:.3f}" if pair["p_value"] >= 0.001 else "<0.001"
            mcnemar = f"{p} ({pair['only_ddse_wrong']} / {pair['only_baseline_wrong']})"
        lines.append(
            f"| {name} | {', '.join(map(str, lrs))} | {len(done)} of {seeds}"
            + (f" ({seed_list})" if done else "")
            + (f", {diverged} diverged" if diverged else "")
            + f" | {mean_std([r['test_error'] for r in done])}"
            f" | {mean_std([r['val_error'] for r in done])}"
            f" | {mean_std([r['epochs'] for r in done], 0)}"
            f" | {mean_std([r['seconds'] / 60 for r in done], 0)}"
            f" | {mcnemar} |"
        )
    return "\n".join(lines)


def replace_between_markers(path: Path, marker: str, text: str) -> None:
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    document = path.read_text()
    if document.count(start) != 1 or document.count(end) != 1:
        sys.exit(f"{path}: needs exactly one {start} and one {end}")
    before, rest = document.split(start)
    _, after = rest.split(end)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as out:
        out.write(f"{before}{start}\n{text}\n{end}{after}")
    os.replace(temporary, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path, help="sweep directory (results.jsonl)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds planned per method")
    parser.add_argument("--mcnemar-seed", type=int, default=2, help="the seed of the pairs")
    parser.add_argument("--into", type=Path, help="a markdown file to write the table into")
    parser.add_argument("--marker", default="step-defaults", help="the markers' name in --into")
    args = parser.parse_args()
    for name in ("results.jsonl", "sweep.json"):
        if not (args.directory / name).exists():
            sys.exit(f"{args.directory}: no {name} (not a sweep directory)")
    text = table(args.directory, args.seeds, args.mcnemar_seed)
    if args.into:
        replace_between_markers(args.into, args.marker, text)
    else:
        print(text)


if __name__ == "__main__":
    main()
