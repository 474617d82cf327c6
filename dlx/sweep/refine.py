"""Coarse-to-fine search (`dlx sweep --refine SWEEP_ID [--top K]`) and what a sweep tells
about its hyper-parameters (`--importance`, the data for `dlx plot --sweep`).

A refined sweep searches a narrower space around the best K completed trials of a finished
one, with the same fixed overrides, metric and direction:

    interval (float)  [lowest, highest] of the top K, widened by a quarter of that span on each
                      side (on the log scale for log dimensions), within the old bounds
    range (int)       the same, rounded outward to the old step
    choice, numeric   the top K's values become an interval reaching halfway to their neighbours
                      in the old list (log scale when every value is > 0 and they span 10x or more)
    choice, other     the choices that appear among the top K (one left: it becomes fixed)
"""

from __future__ import annotations

import math

from dlx.errors import ConfigError
from dlx.sweep import store
from dlx.sweep.driver import load_study
from dlx.sweep.space import FLOAT, INT, Dimension

DEFAULT_TOP = 5
WIDEN = 0.25


def completed(study) -> list:
    import optuna

    return [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None
            and math.isfinite(t.value)]


def open_sweep(output_dir: str, ref: str):
    """(sweep folder, spec, study) of the sweep `ref`."""
    sweep_dir = store.find_sweep(output_dir, ref)
    spec = store.read_spec(sweep_dir)
    study, _ = load_study(spec, store.study_url(sweep_dir, spec, None))
    return sweep_dir, spec, study


def best_trials(study, direction: str, top: int) -> list:
    trials = completed(study)
    if not trials:
        raise ConfigError(f"sweep {study.study_name} has no completed trial to refine around; "
                          "finish it first (dlx sweep --resume ID)")
    return sorted(trials, key=lambda t: t.value, reverse=direction == "maximize")[:top]


def narrow(dim: Dimension, values: list) -> str | None:
    """The override (Hydra sweep grammar) of `dim` narrowed to `values`; None: drop the key."""
    if dim.kind == FLOAT:
        lo, hi = _widen(float(min(values)), float(max(values)), dim.log, dim.low, dim.high)
        inner = f"interval({lo:.6g},{hi:.6g})"
        return f"{dim.key}=tag(log,{inner})" if dim.log else f"{dim.key}={inner}"
    if dim.kind == INT:
        step = dim.step or 1
        lo, hi = _widen(float(min(values)), float(max(values)), dim.log, dim.low, dim.high)
        lo = int(dim.low + math.floor((lo - dim.low) / step) * step)
        hi = int(dim.low + math.ceil((hi - dim.low) / step) * step)
        if lo == hi:
            return f"{dim.key}={lo}"
        inner = f"range({lo},{min(hi, int(dim.high)) + 1},{step})"
        return f"{dim.key}=tag(log,{inner})" if dim.log else f"{dim.key}={inner}"
    numbers = _numbers(dim.choices)
    if numbers is not None and len(set(numbers)) >= 3:
        return _numeric_choice(dim, numbers, [float(v) for v in values])
    kept = [c for c in dim.choices if c in set(map(str, values))]
    return f"{dim.key}={kept[0]}" if len(kept) == 1 else f"{dim.key}={','.join(kept)}"


def _widen(lo: float, hi: float, log: bool, low: float, high: float) -> tuple[float, float]:
    if log and lo > 0:
        a, b = math.log10(lo), math.log10(hi)
        pad = WIDEN * (b - a) or 0.25  # one trial, or equal values: a quarter decade each side
        lo, hi = 10 ** (a - pad), 10 ** (b + pad)
    else:
        pad = WIDEN * (hi - lo) or 0.1 * (high - low)
        lo, hi = lo - pad, hi + pad
    return max(lo, low), min(hi, high)


def _numbers(choices) -> list[float] | None:
    try:
        return [float(c) for c in choices]
    except ValueError:
        return None


def _numeric_choice(dim: Dimension, numbers: list[float], values: list[float]) -> str:
    ordered = sorted(set(numbers))
    log = ordered[0] > 0 and ordered[-1] / ordered[0] >= 10
    mid = (lambda a, b: math.sqrt(a * b)) if log else (lambda a, b: (a + b) / 2)
    i, j = ordered.index(min(values)), ordered.index(max(values))
    lo = mid(ordered[i - 1], ordered[i]) if i > 0 else ordered[i]
    hi = mid(ordered[j], ordered[j + 1]) if j + 1 < len(ordered) else ordered[j]
    integral = all(float(n).is_integer() for n in numbers)
    if integral:
        return f"{dim.key}=range({math.ceil(lo)},{math.floor(hi) + 1})"
    inner = f"interval({lo:.6g},{hi:.6g})"
    return f"{dim.key}=tag(log,{inner})" if log else f"{dim.key}={inner}"


def refined_overrides(output_dir: str, ref: str, top: int, extra: list[str]) -> tuple[list[str], dict]:
    """(the overrides of the refined sweep, the old spec). `extra` overrides replace fixed ones of
    the same key (e.g. trainer.epochs=20) and may not sweep."""
    from dlx.config import parse_overrides

    if top < 1:
        raise ConfigError(f"--top {top}: refine around at least 1 trial (default {DEFAULT_TOP})")
    _, spec, study = open_sweep(output_dir, ref)
    space = spec.space
    given = parse_overrides(list(extra))
    swept = [o.input_line for o in given if o.is_sweep_override()]
    if swept:
        raise ConfigError(f"--refine narrows the old sweep's own space; drop '{swept[0]}' (fixed keys may change)")
    replaced = {o.key_or_group for o in given}
    fixed = [o.input_line for o in parse_overrides(space.fixed) if o.key_or_group not in replaced]
    best = best_trials(study, spec.direction, top)
    narrowed = [narrow(d, [t.params[d.key] for t in best if d.key in t.params]) for d in space.dims]
    return [*fixed, *list(extra), *filter(None, narrowed)], spec


def importances(output_dir: str, ref: str) -> tuple[str, dict[str, float], int]:
    """(sweep id, {key: importance} by optuna's default evaluator (fANOVA), completed trials)."""
    import optuna

    _, spec, study = open_sweep(output_dir, ref)
    trials = completed(study)
    varied = [d.key for d in spec.space.dims
              if len({str(t.params.get(d.key)) for t in trials}) > 1]
    if len(trials) < 2 or not varied:
        raise ConfigError(f"sweep {spec.id} has {len(trials)} completed trial(s): importances need at least "
                          "2 whose parameters differ")
    scores = optuna.importance.get_param_importances(study, params=varied)
    return spec.id, dict(scores), len(trials)


def trial_table(output_dir: str, ref: str):
    """(spec, search space, [(params, value)]) of the completed trials, for plotting."""
    _, spec, study = open_sweep(output_dir, ref)
    trials = completed(study)
    if not trials:
        raise ConfigError(f"sweep {spec.id} has no completed trial to draw")
    return spec, spec.space, [(t.params, t.value) for t in trials]

