"""Recipe files: TOML settings for ddse train --config, command line first, refused in one line."""

import json
from pathlib import Path

import pytest

from ddse_np.errors import DDSEError
from ddse_np.files.checkpoint import load
from ddse_np.training.config import TrainConfig
from ddse_np.training.recipe import read_recipe

from clitools import run

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
TINY = ["--train-fraction", "0.02", "--val-size", "300", "--epochs", "1", "--quiet"]


def write(tmp_path, text, name="r.toml"):
    (tmp_path / name).write_text(text)
    return tmp_path / name


def test_recipe_round_trip_and_command_line_precedence(tmp_path):
    recipe = write(
        tmp_path,
        "m = 16\nk = 1\nlr = 0.05\naug_rotate = 5\nmomentum = 0.8\n"
        'project-every = 7\ninit = "random"\n[fc]\nlr = 0.02\n',
    )
    result = run(
        "train", "--config", recipe, *TINY, "--lr", "0.03", "--json", "--out", tmp_path / "a.h5"
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    config = summary["config"]
    assert (
        config["m"],
        config["k"],
        config["momentum"],
        config["project_every"],
        config["init"],
    ) == (16, 1, 0.8, 7, "random")
    assert config["aug_rotate"] == 5.0 and config["lr"] == 0.03  # the command line wins
    # untouched: defaults
    assert config["epochs"] == 1 and config["batch_size"] == TrainConfig.batch_size
    assert summary["recipe"] == dict(name="r.toml", text=recipe.read_text())
    model, extras = load(tmp_path / "a.h5")
    assert extras["train"]["recipe"]["text"] == recipe.read_text()
    assert TrainConfig.from_dict(extras["train"]["config"]) == TrainConfig(**config)


def test_a_model_table_reaches_only_its_model(tmp_path):
    recipe = write(tmp_path, "m = 16\nlr = 0.05\n[fc]\nlr = 0.02\n[lista]\nlr = 0.01\n")
    lrs = {}
    for model in ("ddse", "fc", "lista"):
        result = run(
            "train",
            "--config",
            recipe,
            "--model",
            model,
            *TINY,
            "--json",
            "--out",
            tmp_path / f"{model}.h5",
        )
        assert result.exit_code == 0, result.output
        lrs[model] = json.loads(result.output)["config"]["lr"]
    assert lrs == {"ddse": 0.05, "fc": 0.02, "lista": 0.01}
    fc_in_file = write(tmp_path, 'model = "fc"\nm = 16\n[fc]\nlr = 0.02\n', "fc.toml")
    result = run("train", "--config", fc_in_file, *TINY, "--json", "--out", tmp_path / "fc2.h5")
    assert json.loads(result.output)["config"]["lr"] == 0.02


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("lrr = 0.1\n", "unknown key 'lrr'"),
        ("m = 1.5\n", "key 'm' must be an integer (got 1.5)"),
        ("m = true\n", "key 'm' must be an integer (got True)"),
        ('lr = "fast"\n', "key 'lr' must be a number"),
        ('model = "cnn"\n', "key 'model' must be one of ddse"),
        ("[lista]\nlrr = 0.1\n", "unknown key 'lista.lrr'"),
        ('[lista]\nmodel = "fc"\n', "a model's table cannot change the model"),
        ("lr = \n", "not valid TOML"),
    ],
)
def test_bad_recipes_are_refused_in_one_line_naming_the_key(tmp_path, text, fragment):
    recipe = write(tmp_path, text)
    result = run("train", "--config", recipe, *TINY, "--out", tmp_path / "a.h5")
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("error: ")
    assert fragment in lines[0] and "r.toml" in lines[0]
    assert not (tmp_path / "a.h5").exists()


def test_missing_recipe_and_recipe_with_resume(tmp_path):
    result = run("train", "--config", tmp_path / "none.toml", *TINY, "--out", tmp_path / "a.h5")
    assert result.exit_code == 1 and "cannot read recipe" in result.output
    recipe = write(tmp_path, "m = 16\n")
    result = run("train", "--config", recipe, "--resume", tmp_path / "a.h5")
    assert result.exit_code == 1 and "--config cannot be combined with --resume" in result.output


@pytest.mark.parametrize("path", sorted(RECIPES.glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_recipe_is_valid(path):
    recipe = read_recipe(path)
    for model in ("ddse", "fc", "lista"):
        TrainConfig(**recipe.for_model(model)).validate()
    assert recipe.text.startswith("#")  # each says what it reproduces


def test_the_paper_recipe_is_the_paper(tmp_path):
    config = TrainConfig(**read_recipe(RECIPES / "paper.toml").settings)
    assert (
        config.m,
        config.k,
        config.sparsity,
        config.lr,
        config.momentum,
        config.batch_size,
        config.project_every,
    ) == (1024, 2, 0.25, 0.01, 0.9, 128, 15)
    aug = config.augment_config()
    assert all(getattr(aug, t) > 0 for t in ("noise", "blur", "flip", "rotate", "scale"))


def test_check_names_the_file():
    with pytest.raises(DDSEError, match="x.toml: unknown key"):
        from ddse_np.training.recipe import check_setting

        check_setting("x.toml", "zz", "zz", 1)


@pytest.mark.parametrize(
    "recipe_name, directory_name, method_count",
    [("study-plateau.toml", "defaults-patience6", 6), ("study-step.toml", "step-E150", 2)],
)
def test_a_study_recipe_is_the_config_of_every_committed_run(
    recipe_name, directory_name, method_count
):
    """recipes/study-plateau.toml trains each method of results/reproduction/defaults-patience6
    exactly as that sweep planned it (the plateau-schedule result table), and study-step.toml each
    of step-E150 (the fixed-schedule comparison): one command per row.  ``method_count``: at least
    as many methods as had finished a row when the test was written."""
    import json

    from ddse_np.experiments.sweep import _job_config
    from ddse_np.training.config import TrainConfig
    from ddse_np.training.recipe import read_recipe

    directory = RECIPES.parent / "results" / "reproduction" / directory_name
    settings = json.loads((directory / "sweep.json").read_text())
    recipe = read_recipe(RECIPES / recipe_name)
    methods = {
        json.loads(line)["method"]
        for line in (directory / "results.jsonl").read_text().splitlines()
    }
    assert len(methods) >= method_count
    for method in set(methods) | set(settings["method_settings"]):
        planned = TrainConfig.from_dict({**_job_config("depth", settings, method, 2)[0], "seed": 0})
        made = TrainConfig(**{**recipe.for_model(method), "model": method, "seed": 0})
        assert made.recorded() == planned.recorded(), method
