"""dlx from Python: the functions the CLI calls, returning objects instead of printing.

    import dlx
    run = dlx.train("model=mlp", "data=digits", epochs=3)   # a Run; nothing printed
    run.history                     # metrics.csv as a DataFrame
    run.predict(x)                  # raw features in, labels in the training data's own values
    dlx.load("last").evaluate("val")

Every function takes the overrides of the command line (`"optim.lr=0.01"`), plus keyword
shortcuts (`epochs=3` is `trainer.epochs=3`, `lr=0.01` is `optim.lr=0.01`, `model="cnn"`,
`**{"optim.lr": 0.01}`); a bad input raises the one-line `dlx.ConfigError` / `DataError` the
CLI prints. `dlx train`, `sweep`, `cv`, `eval`, `predict` and `export` call these functions.
"""

from dlx.api.run import (  # noqa: F401  (the public functions)
    SHORTCUTS, Run, evaluate, export, fit, load, overrides_of, predict_file, prepare, train, use_plugins, value_text)
from dlx.api.search import CV, Sweep, compare, cv, runs, skipped, sweep  # noqa: F401
from dlx.errors import ConfigError, DataError, DlxError, Interrupted, RunError  # noqa: F401  (re-exported)
