"""What DDSE learned, as numbers and pictures: dictionary atoms in pixel space, codes per stage."""

import numpy as np
import pytest
from click.testing import CliRunner

from ddse_np.cli import cli
from ddse_np.data.pca import fit_pca, pca_transform
from ddse_np.experiments.report import code_statistics, dictionary_atoms

from conftest import fresh

n, m = 784, 24


def small_model(name, rng, k=2):
    model = fresh(name, n=n, m=m, k=k, s=49, seed=1, dtype="float64", theta_init=0.05)
    pixels = rng.random((n + 16, n))  # more images than pixels: the full basis (N - 1 >= n)
    mean, basis, _ = fit_pca(pixels)
    model.set_pca(mean, basis)
    return model, pixels


@pytest.mark.parametrize("name", ["ddse", "fc"])
def test_atoms_are_the_first_layer_through_the_pca_basis(name, rng):
    """Unit j's input is atom_j . (x - mean): the atom is the pixel-space filter of row j."""
    model, pixels = small_model(name, rng)
    atoms = dictionary_atoms(model)
    assert atoms.shape == (m, 28, 28)
    X = pca_transform(pixels, model.mean, model.basis)
    W = model.params[model.first_layer]
    assert np.allclose((pixels - model.mean) @ atoms.reshape(m, n).T, X @ W.T)


@pytest.mark.parametrize(
    "name, stages", [("ddse", 3), ("lista", 3), ("fc-dropout", 3), ("ddse-noskip", 3)]
)
def test_code_statistics_count_the_zeros_of_every_stage(name, stages, rng):
    model, pixels = small_model(name, rng)
    X = pca_transform(pixels, model.mean, model.basis)
    stats = code_statistics(model, X, batch_size=64)  # several batches
    assert len(stats) == stages
    codes = []
    Z, _ = model.features(X, train=False, codes=codes)
    assert np.array_equal(codes[-1], Z) and np.array_equal(Z, model.encode(X))
    for stat, code in zip(stats, codes):
        assert np.array_equal(stat["active_per_image"], (code != 0).sum(axis=1))
        assert np.allclose(stat["unit_use"], (code != 0).mean(axis=0))
        assert np.isclose(stat["zero_fraction"], (code == 0).mean())
        assert stat["units"] == m


@pytest.mark.parametrize("name", ["ddse", "lista", "fc"])
def test_a_stage_list_does_not_change_the_pass(name, rng):
    """The forward and backward pass that fills ``codes`` gives the plain pass's code and
    gradients."""
    model, pixels = small_model(name, rng)
    X = pca_transform(pixels, model.mean, model.basis)
    dZ = rng.standard_normal((len(X), m))
    plain, plain_backprop = model.features(X, train=False)
    codes = []
    Z, backprop = model.features(X, train=False, codes=codes)
    assert len(codes) == 3 and codes[-1] is Z and np.array_equal(Z, plain)
    grads, plain_grads = model.zero_grads(), model.zero_grads()
    backprop(dZ, grads)
    plain_backprop(dZ, plain_grads)
    assert all(np.array_equal(grads[p], plain_grads[p]) for p in grads)


@pytest.mark.parametrize("name", ["ddse", "lista", "ddse-noskip"])
def test_the_first_code_is_the_first_shrinkage(name, rng):
    model, pixels = small_model(name, rng)
    X = pca_transform(pixels, model.mean, model.basis)
    codes = []
    model.features(X, train=False, codes=codes)
    V, theta = X @ model.params["W1"].T, model.params["theta.0"]
    assert np.allclose(codes[0], np.sign(V) * np.maximum(np.abs(V) - theta, 0))
    fc, _ = small_model("fc", rng)
    codes = []
    fc.features(X, train=False, codes=codes)
    assert np.allclose(codes[0], np.maximum(X @ fc.params["W.0"].T + fc.params["b.0"], 0))


def is_png(path):
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 2000


@pytest.mark.parametrize("model", ["ddse", "fc"])
def test_inspect_draws_atoms_and_codes(tmp_path, model):
    def run(*a):
        return CliRunner().invoke(cli, [str(x) for x in a])

    ckpt = tmp_path / f"{model}.h5"
    result = run(
        "train",
        "--model",
        model,
        "--m",
        "32",
        "--train-fraction",
        "0.02",
        "--val-size",
        "300",
        "--epochs",
        "1",
        "--quiet",
        "--out",
        ckpt,
    )
    assert result.exit_code == 0, result.output
    atoms, codes = tmp_path / "atoms.png", tmp_path / "codes.png"
    result = run("inspect", ckpt, "--atoms", atoms, "--codes", codes, "--atom-count", "20")
    assert result.exit_code == 0, result.output
    assert is_png(atoms) and is_png(codes)
    assert not list(tmp_path.glob("*.tmp-*"))
    missing = run("inspect", ckpt, "--atoms", tmp_path / "no" / "atoms.png")
    assert missing.exit_code == 1 and "does not exist" in missing.output


def test_learning_curves_join_the_validated_epochs_only(monkeypatch, tmp_path):
    """With --val-every 2 the epochs between validations have val_error NaN; the validation
    curve is drawn through the validated epochs (a NaN would break the line into lone dots)."""
    from ddse_np.experiments import plots

    drawn = {}
    monkeypatch.setattr(plots, "_save", lambda fig, path: drawn.setdefault("fig", fig))
    nan = float("nan")
    history = dict(
        epoch=[1, 2, 3, 4, 5],
        train_loss=[2.0, 1.5, 1.2, 1.0, 0.9],
        val_error=[nan, 5.0, nan, 4.0, 3.5],
        lr=[0.1] * 5,
        seconds=[1.0] * 5,
        samples_per_s=[10.0] * 5,
    )
    plots.learning_curves(history, tmp_path / "c.png")
    line = drawn["fig"].axes[1].lines[0]
    assert list(line.get_xdata()) == [2, 4, 5] and list(line.get_ydata()) == [5.0, 4.0, 3.5]


def drawn_sweep(monkeypatch, tmp_path, rows, **kwargs):
    from ddse_np.experiments import plots

    drawn = {}
    monkeypatch.setattr(plots, "_save", lambda fig, path: drawn.setdefault("fig", fig))
    plots.sweep_figure(
        rows,
        "k",
        "depth sweep",
        tmp_path / "s.png",
        order=("ddse", "fc"),
        names={"ddse": "DDSE", "fc": "Baseline I"},
        **kwargs,
    )
    return drawn["fig"].axes[0]


def test_a_one_value_sweep_puts_the_methods_side_by_side_with_every_seed(monkeypatch, tmp_path):
    rows = [
        dict(method=m, value=2, seed=s, test_error=e)
        for m, errors in (("fc", [0.7, 0.8, 0.9]), ("ddse", [1.0, 1.2]))
        for s, e in enumerate(errors)
    ] + [dict(method="fc", value=2, seed=3, test_error=None)]  # diverged: left out
    ax = drawn_sweep(monkeypatch, tmp_path, rows, axis=("k", "k (unrolled stages)"))
    # in the given order
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "DDSE",
        "Baseline I",
    ]
    assert ax.get_title() == "depth sweep: k = 2"
    means = [line.get_ydata()[0] for line in ax.lines if line.get_marker() == "o"]
    assert np.allclose(means, [1.1, 0.8])
    seeds = [sorted(line.get_ydata()) for line in ax.lines if line.get_marker() == "."]
    assert seeds == [[1.0, 1.2], [0.7, 0.8, 0.9]]


def test_a_sweep_over_several_values_draws_a_line_per_method_on_the_asked_scale(
    monkeypatch, tmp_path
):
    rows = [
        dict(method="ddse", value=v, seed=s, test_error=e)
        for v, errors in ((0.05, [1.3, 1.5]), (1.0, [0.9, 1.0]))
        for s, e in enumerate(errors)
    ]
    # not affected: flat across the values
    rows += [dict(method="fc", value=None, seed=0, test_error=0.75)]
    ax = drawn_sweep(monkeypatch, tmp_path, rows, axis=("ts/t", "ts/t (fraction)"), log_x=True)
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "ts/t (fraction)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.05", "1"]
    ddse, flat = (
        ax.lines[0],
        [
            line
            for line in ax.lines
            if line.get_marker() == "o" and list(line.get_ydata()) == [0.75] * 2
        ],
    )
    assert np.allclose(ddse.get_ydata(), [1.4, 0.95]) and len(flat) == 1
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["DDSE", "Baseline I"]

    dots = [line for line in ax.lines if line.get_marker() == "."]
    # beside the means
    assert len(dots) == 1 and np.allclose(dots[0].get_xdata(), [0.052, 0.052, 1.04, 1.04])


def test_a_value_where_every_run_diverged_keeps_its_place_and_a_diverged_method_its_name(
    monkeypatch, tmp_path
):
    """An lr sweep whose runs at 0.1 all diverged is still a sweep over two values (not a
    comparison at 0.05), and a method with no finite run is named, not dropped."""
    rows = [
        dict(method="ddse", value=0.05, seed=0, test_error=4.0),
        dict(method="ddse", value=0.1, seed=0, test_error=None),
        dict(method="fc", value=0.05, seed=0, test_error=None),
    ]
    ax = drawn_sweep(monkeypatch, tmp_path, rows, axis=("lr", "learning rate"), log_x=True)
    assert ax.get_title() == "depth sweep" and [t.get_text() for t in ax.get_xticklabels()] == [
        "0.05",
        "0.1",
    ]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["DDSE", "Baseline I (diverged)"]
    side = drawn_sweep(monkeypatch, tmp_path, rows[:1] + rows[2:], axis=("k", "k"))
    assert [t.get_text() for t in side.get_xticklabels()] == ["DDSE", "Baseline I (diverged)"]


def test_a_method_missing_a_value_is_joined_across_it_by_a_dotted_line(monkeypatch, tmp_path):
    """While a sweep fills in, a method without runs at ts/t = 0.1 is not drawn as if measured
    there: its 0.05 and 1 means are joined by a dotted segment, a complete method by solid ones."""
    rows = [
        dict(method="ddse", value=v, seed=0, test_error=e)
        for v, e in ((0.05, 1.4), (0.1, 1.1), (1.0, 0.95))
    ]
    rows += [
        dict(method="fc", value=v, seed=0, test_error=e) for v, e in ((0.05, 1.2), (1.0, 0.75))
    ]
    ax = drawn_sweep(monkeypatch, tmp_path, rows, axis=("ts/t", "ts/t"), log_x=True)
    segments = [
        (line.get_linestyle(), list(line.get_xdata()), list(line.get_ydata()))
        for line in ax.lines
        if len(line.get_xdata()) == 2 and line.get_marker() in ("None", None, "")
    ]
    assert sorted(segments) == sorted(
        [
            ("-", [0.05, 0.1], [1.4, 1.1]),
            ("-", [0.1, 1.0], [1.1, 0.95]),
            (":", [0.05, 1.0], [1.2, 0.75]),
        ]
    )
    means = [line for line in ax.lines if line.get_marker() == "o"]
    # no line under the dots
    assert len(means) == 2 and all(line.get_linestyle() == "None" for line in means)
    assert [t.get_text() for t in ax.get_legend().get_texts()][-1] == "dotted: no result in between"
    complete = drawn_sweep(monkeypatch, tmp_path, rows[:3], axis=("ts/t", "ts/t"), log_x=True)
    assert [t.get_text() for t in complete.get_legend().get_texts()] == ["DDSE"]


def test_a_point_of_one_seed_has_no_error_bar(monkeypatch, tmp_path):
    """A zero-length bar would read as seeds that agree; one seed has no spread to draw."""
    from matplotlib.container import ErrorbarContainer

    rows = [dict(method="ddse", value=1, seed=0, test_error=1.0)]
    rows += [dict(method="ddse", value=2, seed=s, test_error=e) for s, e in enumerate((0.8, 1.2))]
    ax = drawn_sweep(monkeypatch, tmp_path, rows)
    (bars,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    (segments,) = bars.lines[2]
    spans = {
        float(segment[0][0]): float(abs(segment[1][1] - segment[0][1]))
        for segment in segments.get_segments()
        if len(segment) and np.isfinite(segment).all()
    }
    assert spans.keys() == {2.0}  # a bar at k = 2 only: none at k = 1
    assert spans[2.0] == pytest.approx(2 * np.std([0.8, 1.2], ddof=1))
