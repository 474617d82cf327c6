"""K-fold cross-validation on top of the one run path: fold plans, workers, the cv folder."""
