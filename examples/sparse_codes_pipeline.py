"""DDSE as a feature extractor: its final sparse code Z_k (``transform``, like scikit-learn's
SparseCoder) fed to a linear classifier, on scikit-learn's bundled digits, against the same
linear classifier on the pixels.  5-fold cross-validated accuracy (mean ± sample std).

    python examples/sparse_codes_pipeline.py            # needs pip install -e '.[sklearn]'
"""

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler
from threadpoolctl import threadpool_limits

from ddse_np.sklearn import DDSEClassifier


def main():
    X, y = load_digits(return_X_y=True)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    # a pipeline's middle step is transformed: DDSE learns its codes from the labels, and the
    # next step sees Z_k (m features, most of them exact zeros)
    codes = DDSEClassifier(m=256, k=2, epochs=30, batch_size=32, lr=0.05, random_state=0)
    linear = LogisticRegression(max_iter=2000)
    pipelines = {
        "pixels -> logistic regression": make_pipeline(MinMaxScaler(), linear),
        "DDSE codes Z_k -> logistic regression": make_pipeline(MinMaxScaler(), codes, linear),
    }
    with threadpool_limits(1):
        for name, pipeline in pipelines.items():
            accuracy = 100 * cross_val_score(pipeline, X, y, cv=folds)
            print(f"{name:40} {accuracy.mean():5.2f} ± {accuracy.std(ddof=1):4.2f} %")
        Z = make_pipeline(MinMaxScaler(), codes).fit(X, y).transform(X)
    print(f"Z_k: {Z.shape[1]} features, {100 * np.mean(Z == 0):.1f}% exact zeros")


if __name__ == "__main__":
    main()
