"""``results.jsonl`` of a sweep directory: one JSON line per finished job, appended and flushed at
once, with the settings the sweep was made with in ``sweep.json`` (used by
:mod:`ddse_np.experiments.sweep`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import DDSEError
from ..files.atomic import write_text

RESULT_FIELDS = (
    "sweep",
    "method",
    "value",
    "seed",
    "lr",
    "epochs",
    "steps",
    "schedule_ended",
    "val_error",
    "test_error",
    "seconds",
    "checkpoint",
    "note",
)


class ResultsFile:
    """``results.jsonl`` of one sweep directory, with the settings it was made with.

    ``sweep.json`` holds the sweep, budget and settings, written with the first result; a
    directory whose results were made by another sweep or other settings is refused (naming
    what differs) rather than mixed or overwritten.  ``settings=None`` opens a directory to
    read only (``--plot-only``).
    """

    def __init__(self, directory, settings: dict | None):
        self.directory = Path(directory)
        self.path = self.directory / "results.jsonl"
        self.meta = self.directory / "sweep.json"
        self.settings = settings
        if settings is not None:
            self._check()

    def _existing(self):
        if not self.meta.exists():
            return None
        try:
            return json.loads(self.meta.read_text())
        except (OSError, ValueError) as exc:
            raise DDSEError(f"{self.meta}: unreadable ({exc})") from None

    def recorded_settings(self) -> dict:
        """The settings in ``sweep.json`` ({} before the first result)."""
        existing = self._existing()
        return existing if isinstance(existing, dict) else {}

    def made_by(self):
        """The sweep name recorded in sweep.json, or None."""
        existing = self._existing()
        return existing.get("sweep") if isinstance(existing, dict) else None

    def _check(self):
        """Refuse a directory whose results were made by another sweep or other settings."""
        existing = self._existing()
        if existing is None:
            if self.path.exists() and self.path.stat().st_size:
                raise DDSEError(
                    f"{self.directory} holds results without a sweep.json: choose another --out"
                )
            return
        if "data" in existing and existing["data"] != self.settings.get("data"):
            raise DDSEError(
                f"{self.directory} holds results made on other training data ({_data(existing)} "
                f"there, {_data(self.settings)} now): choose another --out"
            )
        # sweep and budget first; the data are recorded from 2026-12 on (not in older directories)
        keys = list(self.settings) + [k for k in existing if k not in self.settings]
        differ = [k for k in keys if k != "data" and existing.get(k) != self.settings.get(k)]
        # format 1 wrote none
        theirs, ours = (
            existing.get("format", 1),
            self.settings.get("format", 1),
        )
        if theirs != ours:
            both = all(isinstance(f, int) for f in (theirs, ours))
            age = ("an older" if theirs < ours else "a newer") if both else "another"
            raise DDSEError(
                f"{self.directory} holds results of {age} format ({theirs}; this version "
                f"writes {ours}): choose another --out (--plot-only still redraws them)"
            )
        if differ:
            raise DDSEError(
                f"{self.directory} holds results made with other settings ({differ[0]}: "
                f"{existing.get(differ[0])!r} there, {self.settings.get(differ[0])!r} now): "
                f"choose another --out"
            )

    def _all_rows(self) -> list:
        if not self.path.exists():
            return []
        rows = []
        for line in self.path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a crash: that cell simply runs again
        return rows

    def rows(self) -> list:
        """One row per cell (method, value, seed): the first recorded.  A later row of a cell
        already recorded (a file edited or merged by hand) is left out, never averaged in; see
        :meth:`duplicates`."""
        seen, rows = set(), []
        for row in self._all_rows():
            if _cell(row) not in seen:
                seen.add(_cell(row))
                rows.append(row)
        return rows

    def duplicates(self) -> list:
        """The rows left out of :meth:`rows`, their cell recorded before, in file order."""
        seen, extra = set(), []
        for row in self._all_rows():
            (extra.append(row) if _cell(row) in seen else seen.add(_cell(row)))
        return extra

    def done(self) -> set:
        return {_cell(r) for r in self.rows()}

    def append(self, row: dict):
        """Add one row as a JSON line and flush it to disk.  A line cut by a crash is ended first,
        so it cannot swallow this one."""
        line = json.dumps({name: row.get(name) for name in RESULT_FIELDS}, allow_nan=False) + "\n"
        if not self.meta.exists():
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DDSEError(f"cannot create {self.directory}: {exc.strerror or exc}") from None
            write_text(self.meta, json.dumps(self.settings, indent=1, allow_nan=False))
        elif self.settings is not None:
            self._check()  # another sweep may have started in this directory meanwhile
        if self.path.exists() and self.path.stat().st_size:
            with open(self.path, "rb") as fh:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    line = "\n" + line
        try:
            with open(self.path, "a") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
        # a full disk: the cut line is ended by the next append, or run again
        except OSError as exc:
            raise DDSEError(f"cannot write {self.path}: {exc.strerror or exc}") from None


def _cell(row: dict) -> tuple:
    """A row's cell: (method, value, seed); a value of 0.25 and one of 0.250 are the same cell."""
    return row.get("method"), row.get("value"), row.get("seed")


def _data(settings: dict) -> str:
    """A training set's fingerprint in a few words: its size and the start of its SHA-256."""
    data = settings.get("data")
    if not isinstance(data, dict):
        return "unrecorded data"
    return f"{data.get('images')} inputs, sha256 {str(data.get('sha256'))[:12]}"
