"""Errors a user can cause, each with the exit status the CLI gives it.

Anything raised as a `DlxError` is printed as one line, without a traceback
(unless `--debug`). Everything else is a bug and keeps its traceback.
"""


class DlxError(Exception):
    """Base of the errors that reach the user as one line."""

    exit_code = 1
    prefix = "error"  # the word before the message on stderr


class ConfigError(DlxError):
    """A bad command line or config: unknown name, wrong type, impossible value."""

    exit_code = 2


class DataError(DlxError):
    """Data that cannot be used as asked: missing file, bad column, wrong shape."""

    exit_code = 2


class RunError(DlxError):
    """A run that started but failed: divergence, full disk, out of memory."""

    exit_code = 1


class Interrupted(DlxError):
    """Stopped by Ctrl-C (exit 130) or SIGTERM (143); the message says how to resume."""

    prefix = "interrupted"

    def __init__(self, message: str, exit_code: int = 130):
        super().__init__(message)
        self.exit_code = exit_code


def closest(name: str, choices) -> str | None:
    """The choice that looks most like `name`, or None when nothing is close."""
    import difflib

    matches = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return matches[0] if matches else None


def unknown(kind: str, name: str, choices) -> ConfigError:
    """`unknown model 'resnett' — did you mean 'resnet'? choices: mlp, cnn, ...`"""
    choices = sorted(choices)
    hint = closest(name, choices)
    did_you_mean = f" — did you mean '{hint}'?" if hint else ";"
    return ConfigError(f"unknown {kind} '{name}'{did_you_mean} choices: {', '.join(choices)}")


class InvalidValue(ConfigError):
    """A schema's own check failed; `dlx.config` adds the group to the key."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


def require(ok: bool, key: str, message: str) -> None:
    """Raise `InvalidValue(key, message)` unless `ok`. Used in schemas' __post_init__."""
    if not ok:
        raise InvalidValue(key, message)


def first_line(error: BaseException, limit: int | None = 200) -> str:
    """The first line of `error`'s message (its type's name when it has none), cut to `limit`
    characters (None: whole): how a caught library error is quoted inside a one-line dlx error."""
    lines = str(error).strip().splitlines()
    return (lines[0] if lines else type(error).__name__)[:limit]
