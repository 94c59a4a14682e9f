"""The scripts of results/reproduction/ that turn the comparison's runs into its reported numbers:
the schedule pick (pick_schedule.py), the McNemar pairs (mcnemar.py) and the defaults' table
(headline.py), on small made-up results."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from ddse_np.data.mnist import BUNDLED_MNIST, load_split

SCRIPTS = Path(__file__).resolve().parent.parent / "results" / "reproduction"


def script(name):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def row(method, seed, val, test, **extra):
    """A results.jsonl row of the defaults' cell (k = 2) on the fixed schedule."""
    base = dict(method=method, value=2, seed=seed, lr=0.05, epochs=150, steps=64500)
    return {**base, "val_error": val, "test_error": test, "seconds": 3600.0, **extra}


def write_rows(directory: Path, rows):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_schedule_pick_is_the_lowest_mean_validation_error_and_a_tie_goes_to_the_shorter(
    tmp_path, capsys
):
    pick = script("pick_schedule")
    write_rows(tmp_path / "step-E60", [row("ddse", 0, 0.8, 0.9), row("fc", 0, 0.6, 0.7)])
    write_rows(tmp_path / "step-E100", [row("ddse", 0, 0.6, 0.9), row("fc", 0, 0.8, 0.5)])
    write_rows(tmp_path / "step-E150", [row("ddse", 0, 0.5, 0.5), row("fc", 0, None, None)])
    names = [str(tmp_path / f"step-E{e}") for e in (60, 100, 150)]
    assert pick.main(names) == 0  # 0.7 at 60 and 100 (a tie), E = 150 diverged: not eligible
    assert capsys.readouterr().out.strip() == "60"
    write_rows(tmp_path / "step-E150", [row("ddse", 0, 0.5, 0.5), row("fc", 0, 0.6, 0.9)])
    assert pick.main(names) == 0
    assert capsys.readouterr().out.strip() == "150"  # 0.55, whatever the test errors say
    write_rows(tmp_path / "step-E150", [row("ddse", 0, 0.5, 0.5)])
    assert pick.main(names) == pick.NOT_YET == 3  # I's run at 150 has not landed: no pick yet
    assert capsys.readouterr().out == ""
    # a later row of a cell already recorded is left out, as the sweeps leave it out
    write_rows(tmp_path / "step-E150", [row("ddse", 0, 0.5, 0.5), row("fc", 0, 0.9, 0.9)])
    with (tmp_path / "step-E150" / "results.jsonl").open("a") as f:
        f.write(json.dumps(row("fc", 0, 0.1, 0.1)) + "\n")
    assert pick.main(names) == 0
    assert capsys.readouterr().out.strip() == "60"  # 0.7 at 150, not 0.3


def test_schedule_pick_ties_on_equal_error_counts_and_refuses_when_every_e_diverged(
    tmp_path, capsys
):
    pick = script("pick_schedule")
    # 27 + 34 errors against 20 + 41 of 5,000 each: a tie (0.61%), but not in floats
    write_rows(tmp_path / "step-E100", [row("ddse", 0, 0.54, 1), row("fc", 0, 0.68, 1)])
    write_rows(tmp_path / "step-E150", [row("ddse", 0, 0.40, 1), row("fc", 0, 0.82, 1)])
    names = [str(tmp_path / f"step-E{e}") for e in (100, 150)]
    assert (0.54 + 0.68) / 2 > (0.40 + 0.82) / 2  # the float sums differ in their last bit
    assert pick.main(names) == 0
    assert capsys.readouterr().out.strip() == "100"
    for e in (100, 150):
        write_rows(tmp_path / f"step-E{e}", [row("ddse", 0, None, None), row("fc", 0, 0.5, 1)])
    assert pick.main(names) == 2
    assert "diverged at every E" in capsys.readouterr().err


def test_mcnemar_pairs_count_the_images_each_run_alone_got_wrong(tmp_path):
    mcnemar = script("mcnemar")
    labels = load_split(BUNDLED_MNIST, "test").labels
    write_rows(tmp_path, [row("ddse", 2, 0.1, 0.10), row("fc", 2, 0.3, 0.34)])
    folder = tmp_path / "predictions"
    folder.mkdir()

    def wrong(items):  # the test labels, with those of ``items`` made wrong
        return np.where(np.isin(np.arange(len(labels)), list(items)), (labels + 1) % 10, labels)

    np.save(folder / "ddse-2-seed2.npy", wrong(range(0, 10)).astype(np.uint8))  # 10 errors
    np.save(folder / "fc-2-seed2.npy", wrong(range(6, 40)).astype(np.uint8))  # 34, 4 shared
    np.save(folder / "lista-2-seed1.npy", wrong(range(0, 99)).astype(np.uint8))  # another seed
    mcnemar.main([str(tmp_path), "--seed", "2"])
    mcnemar.main([str(tmp_path), "--seed", "2"])  # again: the pair is not tested twice
    pairs = [
        json.loads(line) for line in (tmp_path / "mcnemar-seed2.jsonl").read_text().splitlines()
    ]
    assert len(pairs) == 1
    (pair,) = pairs
    assert (pair["baseline"], pair["only_ddse_wrong"], pair["only_baseline_wrong"]) == ("fc", 6, 30)
    assert (pair["error_ddse"], pair["error_baseline"]) == pytest.approx((0.10, 0.34))
    from scipy.stats import binomtest

    assert pair["p_value"] == pytest.approx(binomtest(6, 36, 0.5).pvalue)
    assert pair["value"] == "2"
    np.save(folder / "fc-6-seed2.npy", wrong(range(6, 40)).astype(np.uint8))
    np.save(folder / "ddse-6-seed2.npy", wrong(range(0, 10)).astype(np.uint8))
    with pytest.raises(SystemExit, match="ddse-6-seed2.npy: no finished run of that name"):
        mcnemar.main([str(tmp_path), "--seed", "2", "--value", "6"])  # k = 6: no rows yet
    write_rows(tmp_path, [row("ddse", 2, 0.1, 0.10), row("fc", 2, 0.3, 0.35)])
    (tmp_path / "mcnemar-seed2.jsonl").unlink()
    with pytest.raises(SystemExit, match="gives 0.34% test error, its row 0.35%"):
        mcnemar.main([str(tmp_path), "--seed", "2"])  # predictions of another run than the row's
    assert not (tmp_path / "mcnemar-seed2.jsonl").exists()


def test_defaults_table_gives_each_method_its_landed_seeds_mean_and_sample_std(tmp_path):
    headline = script("headline")
    rows = [row("ddse", 0, 0.58, 0.62), row("ddse", 1, 0.82, 0.76), row("ddse", 2, 0.48, 0.71)]
    rows += [row("fc", 2, 0.44, 0.66), row("fc", 0, 0.60, 0.56)]
    rows += [row("lista", 0, None, None, lr=0.02), row("ddse", 0, 0.1, 0.1), row("ddse", 3, 1, 1)]
    rows[-1]["value"] = 6  # another cell (k = 6): not the defaults'
    write_rows(tmp_path, rows)  # and DDSE seed 0 twice: the first row counts, as in the sweeps
    settings = {"method_settings": {"fc-dropout": {"lr": 0.1}}}
    (tmp_path / "sweep.json").write_text(json.dumps(settings))
    pair = dict(baseline="fc", only_ddse_wrong=33, only_baseline_wrong=28, p_value=0.6089)
    (tmp_path / "mcnemar-seed2.jsonl").write_text(json.dumps(pair) + "\n")
    table = headline.table(tmp_path, 5, 2).splitlines()[2:]
    lines = {line.split(" | ")[0]: line.split(" | ") for line in table}
    ddse, fc = lines["| DDSE"], lines["| I (fc)"]
    std = np.std([0.62, 0.76, 0.71], ddof=1)
    assert ddse[2:4] == ["3 of 5 (0, 1, 2)", f"{np.mean([0.62, 0.76, 0.71]):.2f} ± {std:.2f}"]
    assert fc[2:4] == ["2 of 5 (0, 2)", f"0.61 ± {np.std([0.56, 0.66], ddof=1):.2f}"]
    assert fc[7] == "0.609 (33 / 28) |"
    assert lines["| IV (LISTA)"][2] == "0 of 5, 1 diverged"  # counted, not averaged
    assert lines["| II (dropout)"][1:3] == ["0.1", "0 of 5"]  # the planned rate before any row


def test_defaults_table_replaces_only_what_lies_between_its_markers(tmp_path):
    headline = script("headline")
    doc = tmp_path / "doc.md"
    doc.write_text("intro\n<!-- t:start -->\nold\n<!-- t:end -->\nrest\n")
    headline.replace_between_markers(doc, "t", "new table")
    assert doc.read_text() == "intro\n<!-- t:start -->\nnew table\n<!-- t:end -->\nrest\n"
    with pytest.raises(SystemExit, match="needs exactly one"):
        headline.replace_between_markers(doc, "other", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["doc.md"]  # no temporary left behind
