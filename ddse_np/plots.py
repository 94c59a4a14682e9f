"""PNG figures (matplotlib, an optional extra): augmented digits, learning curves.

Files are written to a temporary name and renamed, like checkpoints.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from .errors import DDSEError


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise DDSEError("plotting needs matplotlib: pip install 'ddse-np[plot]'") from None
    return plt


def _save(fig, path):
    path = Path(path)
    if not path.parent.is_dir():
        raise DDSEError(f"cannot write {path}: directory {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".tmp-", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=100)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
        fig.clf()


def image_grid(rows, path, row_titles):
    """rows: list of (count x 28 x 28) host arrays in [0, 1], one figure row each."""
    plt = _pyplot()
    count = rows[0].shape[0]
    fig, axes = plt.subplots(len(rows), count, figsize=(count * 0.9, len(rows) * 0.95), squeeze=False)
    for r, (images, title) in enumerate(zip(rows, row_titles)):
        for c in range(count):
            ax = axes[r][c]
            ax.imshow(images[c], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r][0].set_ylabel(title, fontsize=7)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def learning_curves(history: dict, path, title: str = ""):
    """Training loss and validation error (%) per epoch, from a checkpoint's history."""
    if not history.get("epoch"):
        raise DDSEError("the checkpoint holds no training history to plot")
    plt = _pyplot()
    epochs = np.asarray(history["epoch"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    left.plot(epochs, history["train_loss"], marker=".")
    left.set_xlabel("epoch")
    left.set_ylabel("training loss")
    left.set_yscale("log")
    right.plot(epochs, history["val_error"], marker=".", color="C1")
    right.set_xlabel("epoch")
    right.set_ylabel("validation error (%)")
    lr = np.asarray(history["lr"])
    for epoch in epochs[1:][np.diff(lr) < 0]:
        for ax in (left, right):
            ax.axvline(epoch - 0.5, color="grey", lw=0.6, ls=":")
    fig.suptitle(title + "  (dotted: lr drops)", fontsize=9)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
