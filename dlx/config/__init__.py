"""Config: compose conf/ with overrides (Hydra), validate each group against its schema.

    exp = config.load(["model=cnn", "optim.lr=0.01"])   # a checked `Experiment`
"""

from dlx.config.compose import (GROUPS, TOP_LEVEL_KEYS, compose, conf_dir, default_choices,  # noqa: F401
                                describe_choices, expand_home, group_choices, parse_overrides)
from dlx.config.validate import (Experiment, load, reject_import_paths, resolve_interpolations,  # noqa: F401
                                 to_schema, validate)
