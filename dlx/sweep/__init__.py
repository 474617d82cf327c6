"""Hyper-parameter search on optuna.

    space.py       the search space (Hydra's sweep grammar), checked before any trial
    records.py     SweepSpec (sweep.json) and TrialRow (trials.csv), with their JSON round-trips
    check.py       the space's checks before any trial (in worker 0 with --jobs N: the driver stays torch-free)
    driver.py      start / resume / join: create the study, queue its trials, drive the workers
    worker.py      pop a trial, run it, tell optuna; `--jobs N` worker processes (via dlx.parallel)
    objectives.py  what a trial computes: one run, or a mean over CV folds
    store.py       the sweep folder and its study: trials.csv, best.yaml, the tie rule
"""
