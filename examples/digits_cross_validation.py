"""DDSE and baseline I against scikit-learn's MLPClassifier on scikit-learn's bundled digits
(1,797 images of 8 x 8, 10 classes): 5-fold cross-validated accuracy (mean ± sample std) and the
mean fit time of a fold, every model with the same hidden sizes (k + 1 = 3 layers of m units) and
the same number of epochs (DDSE and baseline I on the fixed step schedule, which trains them all:
the lr drops x0.1 after 50% and 75% of them), one BLAS thread.

    python examples/digits_cross_validation.py          # needs pip install -e '.[sklearn]'
"""

import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler
from threadpoolctl import threadpool_limits

from ddse_np.sklearn import DDSEClassifier

M, K, EPOCHS = 256, 2, 50


def models():
    common = dict(m=M, k=K, epochs=EPOCHS, batch_size=32, schedule="step", random_state=0)
    mlp = dict(hidden_layer_sizes=(M,) * (K + 1), max_iter=EPOCHS, batch_size=32, random_state=0)
    return {
        "DDSE": DDSEClassifier(model="ddse", lr=0.05, **common),
        "baseline I (fc)": DDSEClassifier(model="fc", lr=0.05, **common),
        "MLPClassifier, Adam": MLPClassifier(solver="adam", **mlp),
        "MLPClassifier, SGD + momentum": MLPClassifier(
            solver="sgd", learning_rate_init=0.05, momentum=0.9, **mlp
        ),
    }


def main():
    warnings.filterwarnings("ignore", category=ConvergenceWarning)  # MLP's, after max_iter
    X, y = load_digits(return_X_y=True)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    print(f"digits: {len(X)} images of 8 x 8, 5-fold CV; hidden {K + 1} x {M}, {EPOCHS} epochs")
    print(f"{'model':32} accuracy %       fit s/fold")
    with threadpool_limits(1):
        for name, model in models().items():
            started = time.perf_counter()
            # pixels 0..16 scaled to [0, 1]: DDSE uses float inputs as given
            scores = cross_validate(make_pipeline(MinMaxScaler(), model), X, y, cv=folds)
            accuracy = 100 * scores["test_score"]
            print(
                f"{name:32} {accuracy.mean():5.2f} ± {accuracy.std(ddof=1):4.2f}    "
                f"{np.mean(scores['fit_time']):6.2f}   ({time.perf_counter() - started:.0f} s)"
            )


if __name__ == "__main__":
    main()
