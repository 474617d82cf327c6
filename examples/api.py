"""dlx from Python: train, predict, cross-validate, and a dlx network inside scikit-learn.

    python examples/api.py        # about a minute on one core; writes ./outputs/

Everything here is what the CLI does (`dlx train`, `dlx predict`, `dlx cv`), as objects.
"""

import numpy as np
from sklearn.datasets import load_iris
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import dlx
from dlx.sklearn import DLXClassifier

FAST = {"epochs": 5, "num_threads": 1}

# one run: the same overrides as `dlx train data=iris model=mlp optim.lr=0.01`
run = dlx.train("data=iris", "model=mlp", lr=0.01, **FAST)
print(f"{run.id}: test accuracy {run.summary['test_acc']:.3f}")
print(run.history[["epoch", "train_loss", "val_acc"]].to_string(index=False))

# raw features in, labels in the training data's own names out (its preprocessing is kept)
x = load_iris().data.astype(np.float32)
print("predicted:", run.predict(x[:3]), "probabilities:", run.predict_proba(x[:1]).round(3))
print("val metrics:", {k: round(v, 3) for k, v in run.evaluate("val").items() if k in ("acc", "loss")})

# the store, as `dlx runs` shows it, and the run found again
print(dlx.runs()[["id", "model", "test_acc"]].to_string(index=False))
assert dlx.load("last") == run

# k-fold cross-validation, as `dlx cv --folds 3`
result = dlx.cv("data=iris", folds=3, **FAST)
print(f"cv val_acc {result.mean('val_acc'):.3f} ± {result.std('val_acc'):.3f}")

# a dlx network in a scikit-learn pipeline: no run folder unless record=True
X, y = load_iris(return_X_y=True)
pipe = make_pipeline(StandardScaler(), DLXClassifier(epochs=5, lr=0.01, num_threads=1))
print("cross_val_score:", cross_val_score(pipe, X, y, cv=3).round(3))
