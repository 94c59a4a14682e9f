"""Shared pieces of the sweep and job tests: tiny settings, a sweep's rows, a tiny job."""

import json

from ddse_np.experiments import sweep as sw

TINY = [
    "--set",
    "epochs=1",
    "--set",
    "m=12",
    "--set",
    "train_fraction=0.015",
    "--set",
    "val_size=200",
]
TINY_WIDTH = TINY[:2] + TINY[4:]  # the width sweep sets m itself
TINY_SETTINGS = dict(epochs=1, m=12, train_fraction=0.015, val_size=200)


def rows(directory):
    return [json.loads(line) for line in (directory / "results.jsonl").read_text().splitlines()]


ENDLESS = 10**6  # epochs of a job that cannot finish while a test waits, on any machine


def partial_job(epochs=3, seed=0, **settings):
    """A tiny DDSE job (k = 1, 3 epochs by default) that trains exactly ``epochs`` epochs: on the
    fixed step schedule, which never ends a run early (a plateau schedule can, on its own time)."""
    overrides = {**TINY_SETTINGS, "epochs": epochs, "schedule": "step", **settings}
    return sw.plan(
        "depth", "quick", seeds=seed + 1, methods=("ddse",), values=[1], overrides=overrides
    )[seed]
