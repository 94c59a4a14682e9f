"""rich progress bars for training: one bar for epochs, one for the steps of the epoch."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class RichReporter:
    """Shows loss (running mean of the epoch), validation error, lr and training samples per
    second (of the epoch so far) while training."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(
                "loss {task.fields[loss]}  val {task.fields[val]}  lr {task.fields[lr]}  "
                "{task.fields[rate]} samples/s"
            ),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )

    def start(
        self, epochs: int, steps_per_epoch: int, epoch: int = 0, batch: int = 0, batch_size: int = 1
    ):
        self.steps_per_epoch, self.batch_size = steps_per_epoch, batch_size
        self.loss_sum, self.count, self.since = 0.0, 0, time.perf_counter()
        fields = dict(loss="-", val="-", lr="-", rate="-")
        self.epochs = self.progress.add_task("epochs", total=epochs, completed=epoch, **fields)
        self.steps = self.progress.add_task(
            "steps ", total=steps_per_epoch, completed=batch, **fields
        )
        self.progress.start()

    def step(self, loss: float):
        self.loss_sum += loss
        self.count += 1
        rate = self.count * self.batch_size / max(time.perf_counter() - self.since, 1e-9)
        self.progress.update(
            self.steps, advance=1, loss=f"{self.loss_sum / self.count:.4f}", rate=f"{rate:,.0f}"
        )

    def epoch_end(self, row: dict):
        val = f"{row['val_error']:.2f}%" if row["val_error"] == row["val_error"] else "-"
        self.progress.update(
            self.epochs,
            advance=1,
            loss=f"{row['train_loss']:.4f}",
            val=val,
            lr=f"{row['lr']:.3g}",
            rate=f"{row['samples_per_s']:,.0f}",
        )
        self.progress.reset(
            self.steps,
            total=self.steps_per_epoch,
            loss="-",
            val=val,
            lr=f"{row['lr']:.3g}",
            rate=f"{row['samples_per_s']:,.0f}",
        )
        self.loss_sum, self.count, self.since = 0.0, 0, time.perf_counter()

    def close(self):
        self.progress.remove_task(self.steps)
        self.progress.stop()
