"""Every setting of a training run, validated before any work starts; saved in checkpoints."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

from ..backend import BACKENDS, DTYPES
from ..data.augment import AugmentConfig
from ..errors import DDSEError
from ..nn.init import INITS, THETA_INIT
from ..nn.models import MODELS
from .optim import SCHEDULES, parse_drops

MAX_M, MAX_K = 1 << 16, 100  # beyond these the parameters alone would not fit in a machine's memory
# settings that only some models use (each model's ``settings`` names its own), and those of one
# learning-rate schedule only: in any other run they do nothing, so a run does not record them and
# ``ddse train`` refuses them when given
MODEL_SETTINGS = ("sparsity", "init", "init_sparsity", "theta_init", "project_every")
SCHEDULE_SETTINGS = {"plateau": ("patience", "min_lr"), "step": ("lr_drops",)}


def setting(default, help: str, choices: tuple | None = None):
    """A field of :class:`TrainConfig`: its default, --help text and choices, in one place."""
    return field(default=default, metadata=dict(help=help, choices=choices))


# the share of an .npz file's training examples held out for validation unless --val-size is
# given (and DDSEClassifier's validation_fraction): MNIST's 5,000 of 60,000 is 8%
VAL_FRACTION = 0.1


@dataclass
class TrainConfig:
    """Every setting of a training run, its default and its meaning; saved in the checkpoint.

    The ``ddse train`` options are made from these fields (``--name-with-dashes``),
    so a default or a choice list is written here and nowhere else.  The choices
    are documented in docs/design.md.
    """

    model: str = setting(
        "ddse",
        "ddse (DDSE), fc (Baseline I), fc-dropout (II), fc-dropconnect (III), "
        "lista (IV), ddse-noskip (V).",
        tuple(MODELS),
    )
    m: int = setting(1024, "Code dimension m.")
    k: int = setting(2, "Unrolled iterations k.")
    sparsity: float = setting(
        0.25, "s/n: nonzeros per row/column of W1, W2_i, W3_i as a fraction of n."
    )
    init: str = setting(INITS[0], "Initial weights: the paper's (ISTA on D0 S) or random.", INITS)
    init_sparsity: float = setting(
        0.0,
        "s/n of the initial weights' support, when it is to be below "
        "--sparsity (ddse and ddse-noskip only; 0: --sparsity's). E.g. "
        "--sparsity 1 --init-sparsity 0.25: no weight constraint, the "
        "default's sparse start.",
    )
    theta_init: float = setting(THETA_INIT, "Initial shrinkage thresholds.")
    epochs: int = setting(10, "Most epochs to train (the schedule may end sooner).")
    batch_size: int = setting(128, "Images per SGD step.")
    lr: float = setting(0.01, "Learning rate.")
    momentum: float = setting(0.9, "Momentum of SGD.")
    schedule: str = setting(
        "plateau",
        "Learning-rate schedule: plateau (x --lr-factor after --patience "
        "validations without a new best; the run ends when the lr would fall "
        "below --min-lr) or step (x --lr-factor after each fraction --lr-drops "
        "of --epochs; every run trains all --epochs).",
        SCHEDULES,
    )
    lr_drops: str = setting(
        "0.5,0.75",
        "Step schedule: fractions of --epochs after which the lr drops, "
        "comma-separated, increasing, in (0, 1).",
    )
    project_every: int = setting(15, "SGD steps between projections.")
    val_size: int = setting(
        5000,
        "Stratified validation examples held out of training (0: no lr schedule). For an .npz "
        "file, by default 10% of its training examples, at most 5000.",
    )
    patience: int = setting(
        3,
        "Validations without improvement before the lr drops (one validation every "
        "--val-every epochs).",
    )
    val_every: int = setting(
        1,
        "Epochs between validations (and plateau-schedule updates); the last epoch "
        "is always validated.",
    )
    lr_factor: float = setting(0.1, "lr multiplier at a drop.")
    min_lr: float = setting(
        1e-5, "Stop when the schedule would drop the lr below this (the schedule has ended)."
    )
    train_fraction: float = setting(
        1.0, "Stratified fraction ts/t of the training images to train on."
    )
    keep: str = setting(
        "best",
        "Model to save and test: the epoch of lowest validation error, or the last "
        "(best falls back to last with --val-size 0).",
        ("best", "last"),
    )
    aug_noise: float = setting(
        0.0, "Augmentation: sigma of Gaussian pixel noise (pixels in [0, 1]); 0 = off."
    )
    aug_blur: float = setting(
        0.0,
        "Augmentation: sigma in pixels of a Gaussian blur of a random half of each batch; 0 = off.",
    )
    aug_flip: float = setting(0.0, "Augmentation: probability of a left-right flip; 0 = off.")
    aug_rotate: float = setting(0.0, "Augmentation: largest rotation in degrees; 0 = off.")
    aug_scale: float = setting(
        0.0, "Augmentation: largest relative zoom, e.g. 0.1 for 0.9x-1.1x; 0 = off."
    )
    aug_elastic: float = setting(
        0.0,
        "Augmentation: alpha, in pixels, of an elastic distortion (Simard et al. "
        "2003; 34 in that paper); 0 = off.",
    )
    aug_elastic_sigma: float = setting(
        AugmentConfig.elastic_sigma,
        "Augmentation: sigma in pixels of the Gaussian that smooths the "
        "elastic displacement field.",
    )
    seed: int = setting(
        0, "Seed of the initialisation, splits, batch order, augmentation and masks."
    )
    backend: str = setting("numpy", "numpy (CPU) or cupy (GPU).", BACKENDS)
    dtype: str = setting("float32", "Float type of parameters and activations.", DTYPES)

    def __post_init__(self):
        # one spelling of the drops, so that equal schedules compare equal ('.5, .75' is '0.5,0.75')
        try:
            self.lr_drops = ",".join(repr(f) for f in parse_drops(self.lr_drops))
        except (ValueError, AttributeError):
            pass  # validate() says what is wrong

    @classmethod
    def fields(cls) -> dict:
        """name -> dataclasses.Field, in declaration order."""
        return {f.name: f for f in fields(cls)}

    @classmethod
    def parse(cls, name: str, raw: str):
        """The value of setting ``name`` written as text ('.25', '1e-3', 'lista'), of the field's
        type; DDSEError in one line for an unknown name or a value that is not one."""
        known = cls.fields()
        if name not in known:
            raise DDSEError(f"unknown training setting {name!r}")
        kind = type(known[name].default)
        try:
            value = kind(raw) if kind is not int else int(raw, 10)
        except ValueError:
            raise DDSEError(
                f"setting {name}: {raw!r} is not {'an' if kind is int else 'a'} {kind.__name__}"
            ) from None
        choices = known[name].metadata["choices"]
        if choices and value not in choices:
            raise DDSEError(f"setting {name}: {raw!r} is not one of {', '.join(choices)}")
        return value

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        """A config from a saved dict; keys this version does not know are ignored."""
        known = cls.fields()
        return cls(**{k: v for k, v in values.items() if k in known})

    def drops(self) -> tuple:
        """The step schedule's fractions of the run: ``lr_drops`` parsed by
        :func:`~ddse_np.training.optim.parse_drops`."""
        return parse_drops(self.lr_drops)

    def augment_config(self) -> AugmentConfig:
        """The aug_* settings without their prefix."""
        return AugmentConfig(
            **{
                name[len("aug_") :]: getattr(self, name)
                for name in self.fields()
                if name.startswith("aug_")
            }
        )

    def sparsity_s(self, n: int) -> int:
        """s = round(sparsity * n), at least 1: nonzeros per row/column of the constrained
        matrices."""
        return max(1, int(round(self.sparsity * n)))

    def init_s(self, n: int) -> int:
        """s of the initial weights: round(init_sparsity * n), or :meth:`sparsity_s` if it is 0."""
        return int(round(self.init_sparsity * n)) if self.init_sparsity else self.sparsity_s(n)

    def validate(self, n: int | None = None, shape: tuple | None = None):
        """Refuse impossible settings with one line, before any work starts.

        ``n``: the network's input dimension; ``shape``: that of one raw input, (d,) or (H, W)
        (the augmentation's sigmas are bounded by the image's size).  The checks that need them
        are left for later (:meth:`Trainer.start` makes them) while they are unknown (None).
        """
        for name, spec in self.fields().items():
            value = getattr(self, name)
            if isinstance(spec.default, float) and not math.isfinite(value):
                raise DDSEError(f"--{name.replace('_', '-')} must be a finite number (got {value})")
        checks = [
            (
                self.model in MODELS,
                f"unknown model {self.model!r}: choose one of {', '.join(MODELS)}",
            ),
            (1 <= self.m <= MAX_M, f"--m must lie in 1..{MAX_M} (got {self.m})"),
            (1 <= self.k <= MAX_K, f"--k must lie in 1..{MAX_K} (got {self.k})"),
            (
                0.0 < self.sparsity <= 1.0,
                f"--sparsity s/n must lie in (0, 1] (got {self.sparsity})",
            ),
            (
                0.0 <= self.init_sparsity <= 1.0,
                "--init-sparsity s/n must lie in [0, 1], 0 for --sparsity's (got "
                f"{self.init_sparsity})",
            ),
            (
                n is None or not self.init_sparsity or self.init_s(n) >= 1,
                f"--init-sparsity {self.init_sparsity} leaves s = 0 nonzeros of n = {n}",
            ),
            (
                n is None or self.init_s(n) <= self.sparsity_s(n),
                f"--init-sparsity {self.init_sparsity} exceeds --sparsity {self.sparsity}: "
                "the start would be projected onto the constraint before the first step",
            ),
            (
                not self.init_sparsity or getattr(MODELS.get(self.model), "sparse", True),
                "--init-sparsity applies to the models whose weights s/n constrains "
                f"(ddse, ddse-noskip), not {self.model} (in a sweep: --set ddse:init_sparsity=...)",
            ),
            (
                0.0 < self.train_fraction <= 1.0,
                f"--train-fraction must lie in (0, 1] (got {self.train_fraction})",
            ),
            (self.epochs >= 1, f"--epochs must be at least 1 (got {self.epochs})"),
            (self.batch_size >= 1, f"--batch-size must be at least 1 (got {self.batch_size})"),
            (self.lr > 0, f"--lr must be positive (got {self.lr})"),
            (0.0 <= self.momentum < 1.0, f"--momentum must lie in [0, 1) (got {self.momentum})"),
            (
                self.project_every >= 1,
                f"--project-every must be at least 1 (got {self.project_every})",
            ),
            (self.val_size >= 0, f"--val-size must be non-negative (got {self.val_size})"),
            (self.patience >= 1, f"--patience must be at least 1 (got {self.patience})"),
            (self.val_every >= 1, f"--val-every must be at least 1 (got {self.val_every})"),
            (0.0 < self.lr_factor < 1.0, f"--lr-factor must lie in (0, 1) (got {self.lr_factor})"),
            (self.theta_init >= 0, f"--theta-init must be non-negative (got {self.theta_init})"),
            (self.min_lr >= 0, f"--min-lr must be non-negative (got {self.min_lr})"),
        ]
        for ok, message in checks:
            if not ok:
                raise DDSEError(message)
        try:
            parse_drops(self.lr_drops)
        except ValueError as exc:
            raise DDSEError(f"--lr-drops: {exc}") from None
        self.augment_config().validate(shape)

    def to_dict(self) -> dict:
        """Every setting by name, as plain values."""
        return asdict(self)

    def unused(self) -> tuple:
        """The settings that do nothing in this run: the :data:`MODEL_SETTINGS` its model does not
        use, and the settings of the other learning-rate schedule."""
        model = MODELS[self.model]
        other = tuple(
            name
            for kind, names in SCHEDULE_SETTINGS.items()
            if kind != self.schedule
            for name in names
        )
        return tuple(name for name in MODEL_SETTINGS if name not in model.settings) + other

    def recorded(self) -> dict:
        """What a checkpoint and ``--json`` record: :meth:`to_dict` without the :meth:`unused`
        settings (read back, :meth:`from_dict` fills them with their defaults, which do nothing)."""
        unused = set(self.unused())
        return {name: value for name, value in self.to_dict().items() if name not in unused}

    def refuse_unused(self, given, where: str = ""):
        """DDSEError in one line when a setting in ``given`` (names) does nothing in this run;
        ``where`` names a place the settings came from instead of the command line (e.g. a recipe's
        table: 'recipe.toml [fc]')."""
        for name in self.unused():
            if name not in given:
                continue
            option = f"{where}: {name}" if where else f"--{name.replace('_', '-')}"
            if name in MODEL_SETTINGS:
                users = ", ".join(n for n, cls in MODELS.items() if name in cls.settings)
                raise DDSEError(
                    f"{option} does nothing to --model {self.model}: only {users} use it; leave "
                    "it out"
                )
            kind = next(k for k, names in SCHEDULE_SETTINGS.items() if name in names)
            raise DDSEError(
                f"{option} does nothing with --schedule {self.schedule}: only --schedule {kind} "
                f"uses it; leave it out"
            )


def differing(a: dict, b: dict) -> list:
    """The keys whose values differ between two settings dicts, sorted."""
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
