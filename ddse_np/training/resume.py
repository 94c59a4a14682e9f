"""Continuing a run from its checkpoint, and the checks that come first: what may change, which
data, which backend.  A resumed run is bit for bit the run that never stopped (on numpy)."""

from __future__ import annotations

from ..data.mnist import default_data_dir
from ..data.source import load_split
from ..data.split import fingerprint
from ..errors import DDSEError
from ..files.checkpoint import load
from .config import TrainConfig
from .state import restore
from .trainer import Progress, Trainer, split_training_data

RESUMABLE = ("epochs",)  # the only settings a resumed run may change


def resume_run(path, train_split=None, changes: dict | None = None, data_dir=None) -> Trainer:
    """The run saved in the checkpoint at ``path``, ready to continue, on the backend it was
    started on.

    The training images are ``train_split``, or read from ``data_dir``, or by default from the
    directory the run recorded (else $DDSE_DATA or the bundled MNIST); images that differ from
    the ones the run recorded are refused, saying what differs.  ``changes``: settings given
    anew; only those in :data:`RESUMABLE` may differ (``epochs``, to extend a run).  Anything
    else, or a checkpoint without a training state, raises DDSEError in one line.
    """
    model, extras = load(path)
    state = extras["train"]
    if "progress" not in state or "velocity" not in extras["resume"]:
        raise DDSEError(f"{path}: this checkpoint holds no training state to resume from")
    if "optimizer" not in state or "keep" not in state.get("config", {}):
        raise DDSEError(
            f"{path}: made by a pre-release of ddse-np 0.1.0 whose training state this version "
            "does not resume; its model still loads (ddse eval, ddse export)"
        )
    config = resumed_config(path, state, changes or {})
    train_split, data_dir = training_data(path, state.get("data") or {}, train_split, data_dir)
    if config.backend != model.backend.name:
        model, extras = load(path, config.backend)
    config.validate(model.config["n"], model.input_shape)
    fit, val = split_training_data(train_split, config)
    trainer = Trainer(model, fit, val, config, extras["history"], Progress(**state["progress"]))
    restore(trainer, state, extras["resume"])
    return trainer


def resumed_config(path, state: dict, changes: dict) -> TrainConfig:
    """The run's settings with ``changes`` applied, once each change is allowed."""
    config = TrainConfig.from_dict(state.get("config", {}))
    config.refuse_unused(set(changes))  # not "cannot change": the run never had them
    changed = sorted(
        n for n, v in changes.items() if n not in RESUMABLE and getattr(config, n) != v
    )
    if changed:
        name = changed[0]
        raise DDSEError(
            f"--{name.replace('_', '-')} cannot change when resuming ({getattr(config, name)!r} "
            f"in {path}): a resumed run keeps its settings (only "
            f"{', '.join('--' + n for n in RESUMABLE)} may change)"
        )
    done = state["progress"]["epoch"]
    if config.schedule == "step" and changes.get("epochs", config.epochs) != config.epochs:
        raise DDSEError(
            f"--epochs cannot change when resuming a run on the step schedule ({config.epochs} "
            f"in {path}): its lr drops are fractions of --epochs, so the run would become "
            f"another one; train a new run instead"
        )
    if changes.get("epochs", done) < done:
        raise DDSEError(f"--epochs {changes['epochs']}: {path} has already trained {done} epochs")
    for name, value in changes.items():
        setattr(config, name, value)
    return config


def training_data(path, recorded: dict, train_split, data_dir):
    """(training split, data source): the inputs the run continues on (from ``data_dir``, a
    directory or .npz file, else the one recorded), refused when their fingerprint is not the one
    the run recorded."""
    if train_split is None:
        data_dir = data_dir or recorded.get("directory") or default_data_dir()
        train_split = load_split(data_dir, "train")
    if recorded.get("sha256"):
        found = fingerprint(train_split)
        differ = [k for k in ("images", "shape", "sha256") if found[k] != recorded[k]]
        if differ:
            where = f" in {data_dir}" if data_dir else ""
            raise DDSEError(
                f"the training data{where} are not the ones {path} was trained on ({differ[0]} "
                f"{found[differ[0]]} instead of {recorded[differ[0]]}); pass --data with the "
                f"data it started on ({recorded.get('directory') or 'not recorded'})"
            )
    return train_split, data_dir
