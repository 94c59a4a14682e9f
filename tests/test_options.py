"""No option without effect: a setting the chosen model (or schedule) does not use is refused when
given, and a run records only the settings that shaped it."""

import json

import pytest

from ddse_np.nn.models import MODELS
from ddse_np.training.config import MODEL_SETTINGS, TrainConfig

from clitools import one_line_error, run

TINY = [
    "--m",
    "12",
    "--k",
    "1",
    "--train-fraction",
    "0.02",
    "--val-size",
    "200",
    "--epochs",
    "1",
    "--quiet",
]
DENSE = ("fc", "fc-dropout", "fc-dropconnect")


@pytest.mark.parametrize(
    "model, option, value",
    [
        *(
            (model, option, value)
            for model in DENSE
            for option, value in (
                ("--sparsity", "0.5"),
                ("--init", "random"),
                ("--theta-init", "0.1"),
                ("--project-every", "5"),
                ("--init-sparsity", "0.1"),
            )
        ),
        ("lista", "--init", "random"),
        ("lista", "--project-every", "5"),
        ("lista", "--init-sparsity", "0.1"),
    ],
)
def test_an_option_the_model_does_not_use_is_refused_in_one_line(tmp_path, model, option, value):
    out = tmp_path / "x.h5"
    line = one_line_error(run("train", "--model", model, option, value, *TINY, "--out", out), 1)
    assert (
        line.startswith(f"error: {option} does nothing to --model {model}: only ")
        and "ddse" in line
    )
    assert not out.exists()


def test_an_option_of_the_other_schedule_is_refused(tmp_path):
    line = one_line_error(
        run("train", "--lr-drops", "0.3,0.6", *TINY, "--out", tmp_path / "a.h5"), 1
    )
    assert line == (
        "error: --lr-drops does nothing with --schedule plateau: only --schedule step uses it; "
        "leave it out"
    )
    line = one_line_error(
        run("train", "--schedule", "step", "--patience", "5", *TINY, "--out", tmp_path / "b.h5"), 1
    )
    assert "--patience does nothing with --schedule step" in line


def test_every_model_setting_is_used_by_some_model_and_create_takes_what_shapes_the_start():
    import inspect

    assert {name for cls in MODELS.values() for name in cls.settings} == set(MODEL_SETTINGS)
    for cls in MODELS.values():
        parameters = inspect.signature(cls.create).parameters
        # nothing swallowed
        assert not any(p.kind is p.VAR_KEYWORD for p in parameters.values()), cls
        assert ("s" in parameters) == ("sparsity" in cls.settings), cls
        assert ("theta_init" in parameters) == ("theta_init" in cls.settings), cls
        assert ("init" in parameters) == ("init" in cls.settings), cls


def test_a_dense_run_records_only_what_shaped_it_and_a_recipe_may_share_a_setting(tmp_path):
    from ddse_np.files.checkpoint import load

    recipe = tmp_path / "r.toml"
    # the shared table: for the models that use them
    recipe.write_text('sparsity = 0.5\ninit = "random"\n')
    out = tmp_path / "fc.h5"
    result = run("train", "--config", recipe, "--model", "fc", *TINY, "--out", out, "--json")
    assert result.exit_code == 0, result.output
    recorded = json.loads(result.output)["config"]
    assert recorded["model"] == "fc" and not set(MODEL_SETTINGS) & set(recorded)
    assert "lr_drops" not in recorded and recorded["patience"] == TrainConfig.patience
    saved = load(out)[1]["train"]["config"]
    assert saved == recorded
    assert TrainConfig.from_dict(saved).recorded() == recorded  # read back the same
    ddse = tmp_path / "ddse.h5"
    result = run("train", "--config", recipe, *TINY, "--out", ddse, "--json")
    assert result.exit_code == 0, result.output
    recorded = json.loads(result.output)["config"]
    assert recorded["sparsity"] == 0.5 and recorded["init"] == "random"
    recipe.write_text("[fc]\nsparsity = 0.5\n")  # a table for fc alone setting what fc does not use
    line = one_line_error(
        run("train", "--config", recipe, "--model", "fc", *TINY, "--out", tmp_path / "b.h5"), 1
    )
    assert f"{recipe} [fc]: sparsity does nothing to --model fc" in line


def test_the_library_call_and_a_resume_refuse_what_the_run_does_not_use(tmp_path, mnist_small):
    import ddse_np
    from ddse_np.errors import DDSEError
    from ddse_np.training.resume import resume_run
    from ddse_np.training.trainer import Trainer

    with pytest.raises(DDSEError, match="^--sparsity does nothing to --model fc"):
        ddse_np.train(mnist_small, model="fc", sparsity=0.5, epochs=1)
    trainer = Trainer.start(mnist_small, TrainConfig(model="fc", m=12, k=1, epochs=1, val_size=300))
    trainer.run()
    trainer.save(tmp_path / "fc.h5")
    # not "cannot change"
    with pytest.raises(DDSEError, match="^--sparsity does nothing to --model fc"):
        resume_run(tmp_path / "fc.h5", mnist_small, {"sparsity": 0.5})


def test_a_sweep_refuses_a_per_method_setting_the_method_does_not_use(tmp_path):
    from sweeptools import TINY

    line = one_line_error(
        run(
            "sweep",
            "depth",
            "--values",
            "1",
            "--methods",
            "fc,ddse",
            *TINY,
            "--set",
            "fc:sparsity=0.5",
            "--out",
            tmp_path / "s",
        ),
        1,
    )
    assert line.startswith("error: --set fc: sparsity does nothing to --model fc")
    line = one_line_error(
        run(
            "sweep",
            "depth",
            "--values",
            "1",
            "--methods",
            "fc",
            *TINY,
            "--set",
            "lr_drops=0.3",
            "--out",
            tmp_path / "s",
        ),
        1,
    )
    assert line.startswith("error: --set: lr_drops does nothing with --schedule plateau")
    assert not (tmp_path / "s").exists()
    # a shared setting is for the methods that use it
    shared = run(
        "sweep",
        "depth",
        "--values",
        "1",
        "--methods",
        "fc",
        *TINY,
        "--set",
        "sparsity=0.5",
        "--out",
        tmp_path / "t",
    )
    assert shared.exit_code == 0, shared.output


def test_the_step_schedules_drops_have_one_spelling():
    assert TrainConfig(lr_drops=" .5, .75").lr_drops == TrainConfig().lr_drops == "0.5,0.75"
    assert TrainConfig(lr_drops="0.5,,0.7,").lr_drops == "0.5,0.7"
