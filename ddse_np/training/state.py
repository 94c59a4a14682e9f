"""What a resumable checkpoint carries of a run, written and read in one place.

Layout (the checkpoint's ``/train`` attributes, JSON, and its ``/resume`` arrays):

- ``config``: the settings the run uses (:meth:`TrainConfig.recorded`);
- ``progress``: epochs, batches and steps done, the running loss, the best epoch and its error;
- ``optimizer``: lr and momentum; ``schedule``: the learning-rate schedule's own state;
- ``recipe``: the recipe file the settings came from, ``data``: the training data's directory
  and fingerprint (each only when known);
- arrays ``velocity/NAME`` (momentum SGD), and ``params/NAME`` (the current parameters) whenever
  the model saved is not the current one: stopped mid-epoch before the projection, or
  ``keep='best'`` after a worse epoch.
"""

from __future__ import annotations

from dataclasses import asdict

from ..backend import to_host


def capture(trainer) -> tuple:
    """(JSON-ready state, host arrays) of a :class:`~ddse_np.training.trainer.Trainer`, as above."""
    progress = trainer.progress
    optimizer = trainer.optimizer.state()
    velocity = optimizer.pop("velocity")
    state = dict(
        config=trainer.config.recorded(),
        progress=asdict(progress),
        optimizer=optimizer,
        schedule=trainer.schedule.state(),
    )
    if trainer.recipe is not None:
        state["recipe"] = trainer.recipe
    if trainer.data is not None:
        state["data"] = trainer.data
    arrays = {f"velocity/{name}": to_host(v) for name, v in velocity.items()}
    saved_is_current = (
        trainer.kept_model() is trainer.model or progress.best_epoch == progress.epoch
    )
    if progress.batch or not saved_is_current:
        for name, value in trainer.model.params.items():
            arrays[f"params/{name}"] = to_host(value)
    return state, arrays


def restore(trainer, state: dict, arrays: dict):
    """Put what :func:`capture` saved back into a trainer built on the saved model (its
    parameters are the kept model's): the best parameters, the current ones, the optimizer's
    velocity and lr, the schedule, the recipe and the data's record."""
    model, asarray = trainer.model, trainer.model.backend.asarray
    if trainer.keeps_best and trainer.progress.best_epoch:
        trainer.best_params = {name: value.copy() for name, value in model.params.items()}
    for name, value in arrays.get("params", {}).items():
        model.params[name][...] = asarray(value)  # the current parameters, when not the saved ones
    velocity = {name: asarray(value) for name, value in arrays["velocity"].items()}
    trainer.optimizer.load_state(dict(state["optimizer"], velocity=velocity))
    trainer.schedule.load_state(state["schedule"])
    trainer.recipe = state.get("recipe")
    trainer.data = state.get("data") or None
