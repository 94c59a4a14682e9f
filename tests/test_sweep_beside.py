"""``ddse sweep --beside``: runs of another sweep's directory, made with the same config, drawn and
tabulated at this sweep's value; runs made otherwise, or of another format, refused."""

import json

import pytest

from clitools import one_line_error, run
from sweeptools import TINY, rows


def test_beside_adds_another_sweeps_runs_of_the_same_config_at_this_sweeps_value(tmp_path):
    depth, sparsity = tmp_path / "d", tmp_path / "s"
    assert (
        run(
            "sweep", "depth", "--methods", "ddse,fc", "--values", "1,2", *TINY, "--out", depth
        ).exit_code
        == 0
    )
    k2 = {r["method"]: r for r in rows(depth) if r["value"] == 2}
    result = run(
        "sweep",
        "sparsity",
        "--methods",
        "ddse,fc",
        "--values",
        "0.5",
        "--seeds",
        "1",
        *TINY,
        "--out",
        sparsity,
        "--beside",
        depth,
    )
    assert result.exit_code == 0, result.output
    table = (sparsity / "sparsity.md").read_text()
    # DDSE's k = 2 run (the default k) is the s/n 0.25 run of this sweep; its k = 1 run is not;
    # baseline I's k = 2 run is this sweep's own (flat) fc seed 0 again: not counted twice
    assert "| DDSE | 0.25 | 1 | 0 |" in table and f"{k2['ddse']['test_error']:.2f}" in table
    assert "| Baseline I | (all) | 1 | 0 |" in table and "| Baseline I | 0.25" not in table
    assert f"includes 1 run(s) of {depth}: DDSE at sparsity 0.25, seed(s) 0" in table
    # drawn, never written into results.jsonl
    assert [r["method"] for r in rows(sparsity)] == [
        "ddse",
        "fc",
    ]
    import shutil

    # the same runs again, in a second directory given beside
    shutil.copytree(depth, tmp_path / "d2")
    twice = run(
        "sweep",
        "sparsity",
        "--plot-only",
        "--out",
        sparsity,
        "--beside",
        depth,
        "--beside",
        tmp_path / "d2",
    )
    assert twice.exit_code == 0, twice.output
    table = (sparsity / "sparsity.md").read_text()
    assert "| DDSE | 0.25 | 1 | 0 |" in table and "over 1 seed(s)" in table  # one run, once


@pytest.mark.parametrize(
    "setting, differs",
    [
        (["--set", "epochs=2"], "epochs: 1 there, 2 here"),
        (["--set", "epochs=1", "--set", "ddse:lr=0.02"], "lr: 0.05 there, 0.02 here"),
    ],
)
def test_beside_refuses_runs_made_otherwise_before_running(tmp_path, setting, differs):
    depth = tmp_path / "d"
    assert (
        run(
            "sweep", "depth", "--methods", "ddse", "--values", "1,2", *TINY, "--out", depth
        ).exit_code
        == 0
    )
    other = run(
        "sweep",
        "sparsity",
        "--methods",
        "ddse",
        "--values",
        "0.5",
        *TINY[2:],
        *setting,
        "--out",
        tmp_path / "s",
        "--beside",
        depth,
    )
    assert (
        other.exit_code == 1
        and f"none of its runs of ddse is a run of this sweep ({differs})" in other.output
    )
    assert not (tmp_path / "s").exists()  # refused before any run


def test_beside_refuses_results_of_another_format(tmp_path):
    """Format 1 (no ``format`` in sweep.json) tested the last epoch's model, not the best one."""
    depth = tmp_path / "d"
    made = run("sweep", "depth", "--methods", "ddse", "--values", "2", *TINY, "--out", depth)
    assert made.exit_code == 0, made.output
    meta = json.loads((depth / "sweep.json").read_text())
    del meta["format"]
    (depth / "sweep.json").write_text(json.dumps(meta))
    other = run(
        "sweep", "sparsity", "--methods", "ddse", "--values", "0.5", *TINY[2:],
        "--out", tmp_path / "s", "--beside", depth,
    )  # fmt: skip
    assert "its results are of format 1, this sweep's of 2" in one_line_error(other, 1)
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("start, kept", [("0.25", True), ("0.1", False)])
def test_beside_counts_a_start_at_the_constraints_own_sparsity_as_the_default_start(
    tmp_path, start, kept
):
    # study 4's "no weight constraint" sweep (--sparsity 1 --init-sparsity 0.25): at s/n = 0.25 its
    # start is the default one, so a default DDSE run is its 0.25 point; a start at 0.1 is not
    depth = tmp_path / "d"
    assert (
        run("sweep", "depth", "--methods", "ddse", "--values", "2", *TINY, "--out", depth).exit_code
        == 0
    )
    result = run(
        "sweep",
        "sparsity",
        "--methods",
        "ddse",
        "--values",
        "0.5",
        *TINY,
        "--set",
        f"init_sparsity={start}",
        "--out",
        tmp_path / "s",
        "--beside",
        depth,
    )
    if kept:
        assert result.exit_code == 0, result.output
        assert "| DDSE | 0.25 | 1 | 0 |" in (tmp_path / "s" / "sparsity.md").read_text()
    else:
        assert result.exit_code == 1 and "(init_sparsity: 0.0 there, 0.1 here)" in result.output, (
            result.output
        )
