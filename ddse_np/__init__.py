"""ddse-np: the Deep Double Sparsity Encoder in NumPy/CuPy, every gradient written by hand.

Python API::

    import ddse_np
    model, history = ddse_np.train(epochs=3)       # as `ddse train`: the kept model
    model = ddse_np.load("ddse.h5")                # a trained model (numpy backend)
    X = model.preprocess(images)                   # N x 28 x 28 uint8 -> N x n PCA inputs
    logits = model.forward(X)                      # N x 10
    loss, grads = model.loss_and_grads(X, y)       # grads has the keys of model.params
    fresh = ddse_np.DDSE.create(n=784, m=1024, k=2, s=196, seed=0, dtype="float64")
"""

from .version import __version__

# Imported on first use (PEP 562), so that ``import ddse_np`` loads no NumPy: the ``ddse`` command
# (ddse_np.__main__) sets up its Ctrl-C handling before the heavy modules load.
_PUBLIC = {
    "Backend": ".backend",
    "DDSEError": ".errors",
    "DDSE": ".nn.models",
    "MODELS": ".nn.models",
}


def __getattr__(name):
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = globals()[name] = getattr(import_module(_PUBLIC[name], __name__), name)
    return value


# True for type checkers only (no import of typing: the command starts faster)
TYPE_CHECKING = False
if TYPE_CHECKING:  # what editors and type checkers see
    from .backend import Backend as Backend
    from .errors import DDSEError as DDSEError
    from .nn.models import DDSE as DDSE
    from .nn.models import MODELS as MODELS


def __dir__():
    return sorted({*globals(), *_PUBLIC})


def load(path, backend="numpy", dtype=None):
    """Load the model of a checkpoint (parameters, config and PCA) onto ``backend``."""
    from .files.checkpoint import load as load_checkpoint

    return load_checkpoint(path, backend, dtype)[0]


def train(data=None, config=None, reporter=None, **settings):
    """Train one model, start to end, as ``ddse train`` does; returns (model, history).

    ``data``: an MNIST-format directory or an .npz file (default: $DDSE_DATA or the bundled
    MNIST), or a :class:`~ddse_np.data.split.Split` of N x n vectors or N x H x W images and
    their labels in 0..C-1 (for arrays and any labels, :class:`ddse_np.sklearn.DDSEClassifier`
    does the encoding).  ``config``: a
    :class:`~ddse_np.training.config.TrainConfig`, or None for one made from ``settings``
    (the ``ddse train`` options' names, e.g. ``model="fc", epochs=3``).  ``model`` is the model
    ``ddse train`` saves and tests: the best-validation epoch's with ``keep="best"`` (the default),
    else the last epoch's; ``history`` holds per-epoch lists (epoch, train_loss, val_error, lr,
    seconds, samples_per_s).  Raises DDSEError for refused settings or unreadable data, in one line.
    """
    from .data.mnist import default_data_dir
    from .data.source import load_split
    from .data.split import Split
    from .errors import DDSEError
    from .training.config import TrainConfig
    from .training.run import train as train_split

    if config is not None and settings:
        raise DDSEError("give either config or settings, not both")
    unknown = sorted(set(settings) - set(TrainConfig.fields()))
    if unknown:
        raise DDSEError(f"unknown training setting {unknown[0]!r}")
    if config is None:
        config = TrainConfig(**settings)
        config.refuse_unused(set(settings))
    config.validate()
    split = data if isinstance(data, Split) else load_split(data or default_data_dir(), "train")
    return train_split(split, config, reporter)


__all__ = [*_PUBLIC, "load", "train", "__version__"]
