"""Recipe files: training settings in TOML, for ``ddse train --config FILE.toml``.

A recipe holds any training setting of :class:`~ddse_np.training.config.TrainConfig` as a
top-level key (the long option name, with dashes or underscores), and may hold
one table per model name whose keys apply to that model only::

    lr = 0.05                  # every model
    aug-rotate = 10
    [lista]
    lr = 0.01                  # LISTA diverges at 0.05

Options given on the command line win over the recipe; a model's table wins over
the top level.  An unknown key or a value of the wrong type is refused in one
line that names the file and the key.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DDSEError
from ..nn.models import MODELS
from .config import TrainConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@dataclass
class Recipe:
    """A parsed recipe: ``settings`` for every model, ``per_model`` overrides, the file's ``name``
    and its ``text`` (recorded in checkpoints and ``--json``)."""

    name: str
    text: str
    settings: dict = field(default_factory=dict)
    per_model: dict = field(default_factory=dict)

    def for_model(self, model: str) -> dict:
        """The settings this recipe gives ``model``: the top level, then the model's own table."""
        return {**self.settings, **self.per_model.get(model, {})}

    def record(self) -> dict:
        """What checkpoints and ``--json`` keep of the recipe."""
        return dict(name=self.name, text=self.text)


def read_recipe(path) -> Recipe:
    """Parse and check the recipe file at ``path``; DDSEError in one line for any problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise DDSEError(f"cannot read recipe {path}: {reason}") from None
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DDSEError(f"{path}: not valid TOML ({exc})") from None
    recipe = Recipe(name=path.name, text=text)
    for scope in [table] + [v for k, v in table.items() if k in MODELS and isinstance(v, dict)]:
        names = [key.replace("-", "_") for key in scope]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise DDSEError(
                f"{path}: key {twice[0]!r} is given twice (with dashes and with underscores)"
            )
    for key, value in table.items():
        if key in MODELS and isinstance(value, dict):
            recipe.per_model[key] = dict(
                check_setting(path, f"{key}.{k}", k, v) for k, v in value.items()
            )
            if "model" in recipe.per_model[key]:
                raise DDSEError(
                    f"{path}: key '{key}.model': a model's table cannot change the model"
                )
        else:
            name, value = check_setting(path, key, key, value)
            recipe.settings[name] = value
    return recipe


def check_setting(path, label: str, key: str, value):
    """(setting name, value) for a recipe key, or DDSEError naming ``label`` if the key is not a
    training setting or the value is not of its type (a float setting accepts an integer)."""
    name = key.replace("-", "_")
    fields = TrainConfig.fields()
    if name not in fields:
        raise DDSEError(f"{path}: unknown key {label!r} (not a training setting of ddse train)")
    spec = fields[name]
    kind, choices = type(spec.default), spec.metadata["choices"]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not kind:
        raise DDSEError(f"{path}: key {label!r} must be {_a(kind)} (got {value!r})")
    if choices and value not in choices:
        raise DDSEError(
            f"{path}: key {label!r} must be one of {', '.join(choices)} (got {value!r})"
        )
    return name, value


def _a(kind) -> str:
    return {int: "an integer", float: "a number", str: "a string"}.get(kind, kind.__name__)
