"""Every user mistake the CLI can receive gets one readable line on stderr, a non-zero
exit status and no traceback. One table: a case is (id, argv, exit status, fragments the
line must contain — what is wrong and what to do).

Placeholders in an argument, filled in by the module fixture `home`:
  `{runs}`     an output folder holding three runs: `done` (finished), `open` (stopped before
               its summary, so resumable) and `open2`
  `{studies}`  an output folder holding a grid sweep (created, no trial run) and a 2-fold CV
  `{broken}`   an output folder whose two run folders cannot be read
  `{csv}`      a folder of small CSV files, each with one mistake (and `ok.csv` with none)
  `{use}`      trained runs and input files for eval / predict / export / ensemble (tests/test_use.py)
  `{plugins}`  a folder of plugin files, each with one mistake (BAD_PLUGINS)
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import run_process

TINY = ["trainer.epochs=1", "data.limit=100", "trainer.num_threads=1"]

CASES = [
    # ---- unknown group choice
    ("model-choice", ["train", "model=resnett"], 2, ["unknown model 'resnett'", "did you mean 'resnet'", "choices: ", "knn, linear, ", "logistic, lstm, mlp"]),
    ("optim-choice", ["train", "optim=adamm"], 2, ["unknown optim 'adamm'", "did you mean 'adam'"]),
    ("scheduler-choice", ["train", "scheduler=nonee"], 2, ["unknown scheduler 'nonee'", "choices:"]),
    ("regularizer-choice", ["train", "regularizer=l9"], 2, ["unknown regularizer 'l9'", "choices:"]),
    ("loss-choice", ["train", "loss=autoo"], 2, ["unknown loss 'autoo'", "did you mean 'auto'"]),
    ("data-choice", ["train", "data=digitz"], 2, ["unknown data 'digitz'", "did you mean 'digits'"]),
    ("trainer-choice", ["train", "trainer=defualt"], 2, ["unknown trainer 'defualt'", "choices: default"]),
    # ---- unknown key
    ("model-key", ["train", "model.hiden=[64]"], 2, ["model.hiden", "did you mean 'model.hidden'"]),
    ("optim-key", ["train", "optim.lrr=0.1"], 2, ["optim.lrr", "did you mean 'optim.lr'"]),
    ("trainer-key", ["train", "trainer.epoch=3"], 2, ["trainer.epoch", "did you mean 'trainer.epochs'"]),
    ("top-level-key", ["train", "epochs=3"], 2, ["unknown key 'epochs'", "dlx train --cfg"]),
    ("added-top-level-key", ["train", "+seed=3"], 2, ["unknown top-level key 'seed'", "valid: model"]),
    ("added-group-key", ["train", "+model.depth=3"], 2, ["unknown key 'model.depth'", "dlx train --cfg"]),
    # ---- wrong type
    ("lr-not-number", ["train", "optim.lr=abc"], 2, ["'abc'", "optim.lr", "expected a number"]),
    ("epochs-not-int", ["train", "trainer.epochs=two"], 2, ["'two'", "trainer.epochs", "an integer"]),
    ("bool-not-bool", ["train", "trainer.deterministic=maybe"], 2, ["'maybe'", "true or false"]),
    ("list-not-list", ["train", "model.hidden=wide"], 2, ["model.hidden", "a list of integers"]),
    # ---- out-of-range value
    ("lr-negative", ["train", "optim.lr=-1"], 2, ["optim.lr", "must be > 0"]),
    ("epochs-zero", ["train", "trainer.epochs=0"], 2, ["trainer.epochs", "must be >= 1"]),
    ("batch-zero", ["train", "trainer.batch_size=0"], 2, ["trainer.batch_size", "must be >= 1"]),
    ("dropout-one", ["train", "model.dropout=1.0"], 2, ["model.dropout", "[0, 1)"]),
    ("device-unknown", ["train", "trainer.device=tpu"], 2, ["trainer.device", "cpu, cuda"]),
    ("precision-unknown", ["train", "trainer.precision=8"], 2, ["trainer.precision", "16, 32, bf16"]),
    ("monitor-not-val", ["train", "trainer.monitor=train_loss"], 2, ["trainer.monitor", "val_acc or val_loss"]),
    ("monitor-not-measured", ["train", *TINY, "trainer.monitor=val_auc"], 2, ["val_auc", "val_acc"]),
    ("betas-one", ["train", "optim.betas=[0.9]"], 2, ["optim.betas", "two numbers"]),
    ("preprocess-unknown", ["train", "data.preprocess=whiten"], 2, ["'whiten'", "standardize"]),
    ("bad-name", ["train", "name=a/b"], 2, ["invalid name", "letters, digits"]),
    # ---- conflicting values
    ("fold-outside-folds", ["train", "data.folds=2", "data.fold=3"], 2, ["data.fold", "[0, folds)"]),
    ("fractions-sum", ["train", "data.val_fraction=0.5", "data.test_fraction=0.6"], 2,
     ["val_fraction", "must be < 1"]),
    # ---- malformed override syntax, sweeps, deletions
    ("unbalanced-bracket", ["train", "model.hidden=[64"], 2, ["malformed override", "key=value"]),
    ("no-key", ["train", "=3"], 2, ["malformed override", "key=value"]),
    ("group-choice-number", ["train", "trainer=3"], 2, ["unknown trainer '3'", "choices: default"]),
    ("group-choice-list", ["train", "model=[mlp]"], 2, ["unknown model", "choices: ", "knn, linear, ", "logistic, lstm, mlp"]),
    ("sweep-in-train", ["train", "optim.lr=0.1,0.01"], 2, ["is a sweep", "dlx sweep"]),
    ("delete-needed-key", ["train", "~model.hidden"], 2, ["missing key 'model.hidden'", "deleted with ~"]),
    ("delete-unknown-key", ["train", "~model.nothing"], 2, ["cannot delete 'model.nothing'", "no such key"]),
    ("add-existing-key", ["train", "+optim.lr=0.1"], 2, ["'optim.lr' already exists", "without the +"]),
    ("delete-group", ["train", "~model"], 2, ["config group 'model' is missing", "model=mlp"]),
    ("bad-interpolation", ["train", "trainer.epochs=${oops}"], 2, ["cannot resolve trainer.epochs", "existing key"]),
    # ---- import paths are never instantiated
    ("target-in-group", ["train", "+model._target_=os.system"], 2, ["'model._target_' is not allowed", "by name"]),
    ("target-top-level", ["train", "+_target_=os.system"], 2, ["'_target_' is not allowed", "by name"]),
    # ---- options and commands
    ("unknown-option", ["train", "--epochs", "3"], 2, ["No such option", "--help"]),
    ("option-needs-value", ["train", "--resume"], 2, ["--resume", "requires an argument"]),
    ("unknown-command", ["trian"], 2, ["No such command", "--help"]),
    ("runs-option-needs-value", ["runs", "--sort"], 2, ["'--sort' requires an argument", "dlx runs --help"]),
    ("flag-with-value", ["cv", "--test=yes"], 2, ["'--test' does not take a value", "dlx cv --help"]),
    # ---- output folder
    ("output-dir-is-file", ["train", *TINY, "output_dir={runs}/summary-file.txt"], 1,
     ["cannot create", "choose another output_dir"]),
    # ---- resume
    ("resume-no-match", ["train", "--resume", "nosuchrun", "output_dir={runs}"], 2,
     ["no run matches 'nosuchrun'", "dlx runs"]),
    ("resume-ambiguous", ["train", "--resume", "20", "output_dir={runs}"], 2, ["matches 3 runs", "more of the id"]),
    ("resume-no-runs", ["train", "--resume", "last", "output_dir={runs}/empty"], 2, ["no runs in", "dlx train"]),
    ("resume-finished", ["train", "--resume", "_done", "output_dir={runs}"], 2,
     ["already finished", "start a new run"]),
    ("resume-changed-model", ["train", "--resume", "_open", "output_dir={runs}", "model.hidden=[8]"], 2,
     ["model.hidden ([64] → [8])", "start a new run"]),
    ("resume-changed-data", ["train", "--resume", "_open", "output_dir={runs}", "data.limit=50"], 2,
     ["data.limit (100 → 50)", "may change on resume"]),
    ("resume-group-choice", ["train", "--resume", "_open", "output_dir={runs}", "optim=sgd"], 2,
     ["optim.name ('adam' → 'sgd')", "start a new run"]),
    ("resume-target", ["train", "--resume", "_open", "output_dir={runs}", "+model._target_=os.system"], 2,
     ["model._target_", "start a new run"]),
    ("resume-fewer-epochs", ["train", "--resume", "_open", "output_dir={runs}", "trainer.epochs=0"], 2,
     ["trainer.epochs", "must be >= 1"]),
    ("resume-empty-id", ["train", "--resume", "", "output_dir={runs}"], 2, ["--resume needs a run", "'last'"]),
    ("resume-sweep", ["train", "--resume", "_open", "output_dir={runs}", "trainer.epochs=2,3"], 2,
     ["is a sweep", "one value per key"]),
    ("resume-option-typo", ["train", "--reusme", "x"], 2, ["No such option: --reusme", "--resume"]),
    # ---- more out-of-range values
    ("lr-infinite", ["train", "optim.lr=1e400"], 2, ["optim.lr", "must be finite"]),
    ("activation-unknown", ["train", "model.activation=relu6"], 2, ["unknown activation 'relu6'", "choices: elu"]),
    ("hidden-zero-width", ["train", "model.hidden=[0]"], 2, ["model.hidden", "must be > 0"]),
    ("step-size-zero", ["train", "scheduler=step", "scheduler.step_size=0"], 2, ["scheduler.step_size", ">= 1"]),
    ("clip-negative", ["train", "regularizer.clip_grad_norm=-1"], 2, ["regularizer.clip_grad_norm", ">= 0"]),
    ("test-fraction-above-one", ["train", "data.test_fraction=1.5"], 2, ["data.test_fraction", "[0, 1)"]),
    ("limit-negative", ["train", "data.limit=-1"], 2, ["data.limit", ">= 0"]),
    ("folds-one", ["train", "data.folds=1"], 2, ["data.folds", "0 (off) or >= 2"]),
    ("loss-wrong-task", ["train", *TINY, "loss=bce"], 2, ["'bce' does not fit multiclass", "use one of: auto"]),
    # ---- missing or unusable data
    ("csv-no-path", ["train", "data=csv"], 2, ["csv needs data.path", "data.path=/path"]),
    ("csv-missing-file", ["train", "data=csv", "data.path={csv}/nosuch.csv", "data.target=label"], 2,
     ["CSV file not found", "check data.path"]),
    ("csv-is-folder", ["train", "data=csv", "data.path={csv}", "data.target=label"], 2,
     ["cannot read", "as CSV", "Is a directory"]),
    ("csv-no-target", ["train", "data=csv", "data.path={csv}/ok.csv"], 2,
     ["needs data.target", "columns: x1, x2, label"]),
    ("csv-unknown-target", ["train", "data=csv", "data.path={csv}/ok.csv", "data.target=lable"], 2,
     ["no column 'lable'", "did you mean 'label'", "columns: x1"]),
    ("csv-unknown-feature", ["train", "data=csv", "data.path={csv}/ok.csv", "data.target=label",
                             "data.features=[x1,x3]"], 2, ["no column 'x3'", "columns: x1"]),
    ("csv-target-in-features", ["train", "data=csv", "data.path={csv}/ok.csv", "data.target=label",
                                "data.features=[x1,label]"], 2, ["lists the target 'label'", "drop it"]),
    ("csv-feature-twice", ["train", "data=csv", "data.path={csv}/ok.csv", "data.target=label",
                           "data.features=[x1,x1]"], 2, ["lists 'x1' twice", "once"]),
    ("csv-nan-feature", ["train", "data=csv", "data.path={csv}/nan.csv", "data.target=label"], 2,
     ["column 'x2' has 1 missing value(s) (line 3)", "data.dropna=true"]),
    ("csv-inf-feature", ["train", "data=csv", "data.path={csv}/inf.csv", "data.target=label"], 2,
     ["column 'x1' has an infinite value (line 2)", "data.features=[...]"]),
    ("csv-single-class", ["train", "data=csv", "data.path={csv}/one.csv", "data.target=label"], 2,
     ["single class", "at least two"]),
    ("csv-text-regression", ["train", "data=csv", "data.path={csv}/text.csv", "data.target=label",
                             "data.task=regression"], 2, ["not numeric", "data.task=auto"]),
    ("csv-task-unknown", ["train", "data=csv", "data.task=ranking"], 2, ["data.task", "choices: auto"]),
    ("csv-unclosed-quote", ["train", "data=csv", "data.path={csv}/broken.csv", "data.target=label"], 2,
     ["cannot read", "as CSV"]),
    ("csv-empty-file", ["train", "data=csv", "data.path={csv}/empty.csv", "data.target=label"], 2,
     ["cannot read", "No columns"]),
    ("csv-folds-above-rows", ["train", *TINY, "data=csv", "data.path={csv}/ok.csv", "data.target=label",
                              "data.folds=50"], 2, ["data.folds=50", "lower data.folds"]),
    ("csv-folds-above-class", ["train", *TINY, "data=csv", "data.path={csv}/ok.csv", "data.target=label",
                               "data.folds=4"], 2, ["smallest class has only 3", "lower data.folds"]),
    ("image-folder-missing", ["train", "data=image_folder", "data.path={csv}/nosuch"], 2,
     ["image folder not found", "check data.path"]),
    ("image-folder-no-classes", ["train", "data=image_folder", "data.path={csv}"], 2,
     ["no class sub-folders", "<class>/<image>"]),
    ("vision-not-downloaded", ["train", "data=cifar10", "data.root={csv}/cifar", "data.download=false"], 2,
     ["files not found under", "data.download=true"]),
    # ---- dlx list, dlx data
    ("list-unknown-group", ["list", "modle"], 2, ["unknown config group 'modle'", "did you mean 'model'"]),
    ("list-extra-argument", ["list", "model", "optim"], 2, ["unexpected extra argument", "dlx list --help"]),
    ("models-show-agent", ["models", "show", "ppo"], 2, ["cannot summarise model=ppo", "dlx's rl task"]),
    ("data-unknown", ["data", "nosuch"], 2, ["unknown data 'nosuch'", "choices: ", "breast_cancer, cartpole, cifar10"]),
    ("data-typo", ["data", "digitz"], 2, ["unknown data 'digitz'", "did you mean 'digits'"]),
    ("data-bad-override", ["data", "digits", "data.limit=abc"], 2, ["'abc'", "data.limit", "an integer"]),
    ("data-csv-no-path", ["data", "csv"], 2, ["csv needs data.path", "data.path="]),
    # ---- dlx sweep: the search space
    ("sweep-nothing-swept", ["sweep", *TINY], 2, ["nothing to sweep", "optim.lr=0.1,0.01"]),
    ("sweep-interval-one-bound", ["sweep", *TINY, "optim.lr=interval(1,)"], 2, ["malformed override", "key=value"]),
    ("sweep-log-from-zero", ["sweep", *TINY, "optim.lr=tag(log,interval(0,1))"], 2,
     ["tag(log, ...) needs a lower bound above 0", "got 0"]),
    ("sweep-interval-reversed", ["sweep", *TINY, "optim.lr=interval(0.1,0.001)"], 2, ["needs low < high"]),
    ("sweep-range-empty", ["sweep", *TINY, "trainer.batch_size=range(64,16)"], 2, ["empty or descending",
                                                                                   "counts up"]),
    ("sweep-unknown-tag", ["sweep", *TINY, "optim.lr=tag(ln,interval(0.1,1))"], 2,
     ["unknown tag 'ln'", "only tag(log, ...)"]),
    ("sweep-glob", ["sweep", *TINY, "optim=glob(*)"], 2, ["glob() is not supported", "list the values"]),
    ("sweep-unknown-key", ["sweep", *TINY, "optim.lrr=interval(0.001,0.1)"], 2,
     ["unknown key 'optim.lrr'", "did you mean 'optim.lr'"]),
    ("sweep-unknown-choice", ["sweep", *TINY, "optim=adam,sgdd"], 2, ["unknown optim 'sgdd'", "did you mean 'sgd'"]),
    ("sweep-bad-value", ["sweep", *TINY, "optim.lr=0.1,-1"], 2, ["optim.lr", "must be > 0"]),
    ("sweep-interval-of-int", ["sweep", *TINY, "trainer.batch_size=interval(16,64)"], 2,
     ["trainer.batch_size", "use range(low, high)"]),
    ("sweep-key-twice", ["sweep", *TINY, "optim.lr=0.1,0.01", "optim.lr=0.2,0.3"], 2,
     ["'optim.lr' is swept twice", "one sweep"]),
    # ---- dlx sweep: options
    ("sweep-sampler-unknown", ["sweep", *TINY, "optim.lr=0.1,0.01", "--sampler", "bayes"], 2,
     ["unknown sampler 'bayes'", "grid, random, tpe"]),
    ("sweep-grid-of-interval", ["sweep", *TINY, "optim.lr=interval(0.001,0.1)", "--sampler", "grid"], 2,
     ["is continuous", "--sampler random"]),
    ("sweep-trials-zero", ["sweep", *TINY, "optim.lr=0.1,0.01", "--trials", "0"], 2, ["--trials must be at least 1"]),
    ("sweep-jobs-negative", ["sweep", *TINY, "optim.lr=0.1,0.01", "--jobs", "-1"], 2, ["--jobs must be 0", "got -1"]),
    ("sweep-direction-up", ["sweep", *TINY, "optim.lr=0.1,0.01", "--direction", "up"], 2,
     ["--direction up", "min or max"]),
    ("sweep-metric-test", ["sweep", *TINY, "optim.lr=0.1,0.01", "--metric", "test_acc"], 2,
     ["--metric test_acc", "a validation metric"]),
    ("sweep-seed-not-int", ["sweep", "optim.lr=0.1,0.01", "--seed", "abc"], 2,
     ["Invalid value for '--seed'", "dlx sweep --help"]),
    ("sweep-option-typo", ["sweep", "--trails", "3", "optim.lr=0.1,0.01"], 2,
     ["No such option: --trails", "--trials"]),
    ("sweep-storage-unknown", ["sweep", *TINY, "optim.lr=0.1,0.01", "--storage", "nosuch://db"], 2,
     ["cannot open the study storage nosuch://db", "sqlite:///"]),
    ("sweep-test-without-cv", ["sweep", *TINY, "optim.lr=0.1,0.01", "--test"], 2,
     ["--test refits the best trial of a --cv sweep", "trials.csv"]),
    ("sweep-cv-one-fold", ["sweep", *TINY, "optim.lr=0.1,0.01", "--cv", "1"], 2, ["--cv needs at least 2 folds"]),
    ("sweep-cv-and-prune", ["sweep", *TINY, "optim.lr=0.1,0.01", "--cv", "3", "--prune"], 2,
     ["--prune", "does not combine with --cv"]),
    # ---- dlx sweep: --resume / --join
    ("sweep-resume-no-match", ["sweep", "--resume", "nosuch", "output_dir={studies}"], 2,
     ["no sweep matches 'nosuch'", "folder names"]),
    ("sweep-resume-no-sweeps", ["sweep", "--resume", "last", "output_dir={runs}"], 2,
     ["no sweeps in", "dlx sweep key=a,b"]),
    ("sweep-resume-empty", ["sweep", "--resume", ""], 2, ["--resume needs a sweep", "'last'"]),
    ("sweep-join-no-match", ["sweep", "--join", "nosuch", "output_dir={studies}"], 2, ["no sweep matches 'nosuch'"]),
    ("sweep-resume-and-sampler", ["sweep", "--resume", "last", "--sampler", "tpe", "output_dir={studies}"], 2,
     ["drop --sampler", "as it was created"]),
    ("sweep-resume-and-space", ["sweep", "--resume", "last", "output_dir={studies}", "optim.lr=0.1,0.2"], 2,
     ["drop 'optim.lr=0.1,0.2'", "only output_dir"]),
    ("sweep-resume-and-join", ["sweep", "--resume", "last", "--join", "last"], 2, ["drop --join"]),
    ("sweep-resume-and-cv", ["sweep", "--resume", "last", "--cv", "3"], 2, ["--cv is fixed", "drop it"]),
    ("sweep-resume-grid-trials", ["sweep", "--resume", "last", "--trials", "5", "output_dir={studies}"], 2,
     ["--trials cannot change a grid sweep", "every combination once"]),
    # ---- dlx cv
    ("cv-folds-one", ["cv", *TINY, "--folds", "1"], 2, ["--folds must be at least 2", "got 1"]),
    ("cv-folds-too-many", ["cv", *TINY, "--folds", "5000"], 2, ["--folds 5000", "lower --folds"]),
    ("cv-folds-not-int", ["cv", "--folds", "five"], 2, ["Invalid value for '--folds'", "dlx cv --help"]),
    ("cv-repeats-zero", ["cv", *TINY, "--repeats", "0"], 2, ["--repeats must be at least 1"]),
    ("cv-jobs-zero", ["cv", *TINY, "--jobs", "0"], 2, ["--jobs must be at least 1", "got 0"]),
    ("cv-sets-data-folds", ["cv", "data.folds=3"], 2, ["sets data.folds", "use --folds"]),
    ("cv-sweep-override", ["cv", "optim.lr=0.1,0.01"], 2, ["is a sweep", "dlx sweep"]),
    ("cv-folds-above-class", ["cv", "data=csv", "data.path={csv}/ok.csv", "data.target=label", "--folds", "4"], 2,
     ["--folds 4", "class '0'", "lower --folds"]),
    ("cv-resume-no-match", ["cv", "--resume", "nosuch", "output_dir={studies}"], 2,
     ["no cross-validation matches 'nosuch'", "folder names"]),
    ("cv-resume-none", ["cv", "--resume", "last", "output_dir={runs}"], 2, ["no cross-validations in", "dlx cv"]),
    ("cv-resume-empty", ["cv", "--resume", ""], 2, ["--resume needs a cross-validation", "'last'"]),
    ("cv-resume-other-folds", ["cv", "--resume", "last", "--folds", "3", "output_dir={studies}"], 2,
     ["was started with --folds 2, not 3"]),
    ("cv-resume-other-overrides", ["cv", "--resume", "last", "output_dir={studies}", "optim.lr=0.5"], 2,
     ["not these overrides", "start a new CV"]),
    # ---- dlx runs
    ("runs-sort-unknown", ["runs", "--output-dir", "{runs}", "--sort", "nosuch"], 2,
     ["unknown key 'nosuch'", "such as optim.lr"]),
    ("runs-where-no-operator", ["runs", "--output-dir", "{runs}", "--where", "badsyntax"], 2,
     ["bad --where 'badsyntax'", "key=value"]),
    ("runs-where-not-number", ["runs", "--output-dir", "{runs}", "--where", "optim.lr>abc"], 2,
     ["'abc' is not a number", "optim.lr holds numbers"]),
    ("runs-where-unknown-key", ["runs", "--output-dir", "{runs}", "--where", "optim.lrr=1"], 2,
     ["unknown key 'optim.lrr'"]),
    ("runs-format-xml", ["runs", "--format", "xml"], 2, ["--format xml", "table, csv, json"]),
    ("runs-limit-zero", ["runs", "--limit", "0"], 2, ["'--limit'", "greater than or equal to 1"]),
    ("runs-group-by-unknown", ["runs", "--output-dir", "{runs}", "--group-by", "nosuch"], 2,
     ["unknown key 'nosuch'"]),
    ("runs-sweep-unknown", ["runs", "--output-dir", "{studies}", "--sweep", "nosuch"], 2,
     ["no sweep matches 'nosuch'", "sweeps/"]),
    ("runs-cv-unknown", ["runs", "--output-dir", "{studies}", "--cv", "nosuch"], 2, ["no cv matches 'nosuch'", "cv/"]),
    ("runs-empty-store", ["runs", "--output-dir", "{runs}/empty"], 2, ["no runs in", "dlx train"]),
    # ---- dlx show
    ("show-no-match", ["show", "nosuch", "--output-dir", "{runs}"], 2, ["no run matches 'nosuch'", "dlx runs --all"]),
    ("show-ambiguous", ["show", "20", "--output-dir", "{runs}"], 2, ["'20' matches 3 runs", "more of the id"]),
    ("show-no-runs", ["show", "last", "--output-dir", "{runs}/empty"], 2, ["no runs in", "dlx train"]),
    ("show-no-argument", ["show"], 2, ["Missing argument", "dlx show --help"]),
    ("show-unreadable", ["show", "_bad", "--output-dir", "{broken}"], 2,
     ["cannot read run", "not valid JSON", "delete that folder"]),
    # ---- dlx compare
    ("compare-one-unknown", ["compare", "_done", "nosuch", "--output-dir", "{runs}"], 2, ["no run matches 'nosuch'"]),
    ("compare-nothing", ["compare"], 2, ["name the runs to compare", "--sweep/--cv"]),
    ("compare-one-run", ["compare", "_done", "--output-dir", "{runs}"], 2, ["at least two readable runs", "got 1"]),
    ("compare-ids-and-sweep", ["compare", "_done", "--sweep", "last", "--output-dir", "{runs}"], 2,
     ["give run ids or --sweep/--cv, not both"]),
    ("compare-format", ["compare", "_done", "_open", "--format", "xml"], 2, ["--format xml", "markdown"]),
    ("compare-unreadable", ["compare", "_bad", "_half", "--output-dir", "{broken}"], 2,
     ["cannot read run", "_bad", "delete that folder"]),
    ("compare-sweep-unknown", ["compare", "--sweep", "nosuch", "--output-dir", "{studies}"], 2,
     ["no sweep matches 'nosuch'"]),
    # ---- dlx plot
    ("plot-unknown-run", ["plot", "nosuch", "--output-dir", "{runs}"], 2, ["no run matches 'nosuch'", "dlx runs"]),
    ("plot-no-argument", ["plot"], 2, ["name the runs to plot", "--sweep SWEEP"]),
    ("plot-unknown-metric", ["plot", "_done", "--metric", "auc", "--output-dir", "{runs}"], 2,
     ["no metric 'auc'", "choose from: acc, loss"]),
    ("plot-bad-format", ["plot", "_done", "-o", "{runs}/curves.txt", "--output-dir", "{runs}"], 2,
     ["cannot write", "not supported", "png"]),
    ("plot-no-folder", ["plot", "_done", "-o", "{runs}/nosuch/curves.png", "--output-dir", "{runs}"], 2,
     ["cannot write", "does not exist"]),
    ("plot-no-metrics", ["plot", "_half", "--output-dir", "{broken}"], 2, ["has no metrics.csv", "no epoch"]),
    # --- baselines and optimizer landscapes (issue 19)
    ("knn-k-above-rows", ["train", "model=knn", "model.k=500", *TINY], 2, ["model.k=500", "only 100 rows", "model.k <= 100"]),
    ("knn-metric", ["train", "model=knn", "model.metric=cosine"], 2, ["model.metric", "choices: l1, l2"]),
    ("linear-closed-form-on-classes", ["train", "model=linear", "data=iris"], 2, ["least squares", "model=logistic"]),
    ("linear-alpha-with-gd", ["train", "model=linear", "model.solver=gd", "model.alpha=1"], 2,
     ["model.alpha", "regularizer=l2"]),
    ("logistic-on-regression", ["train", "model=logistic", "data=diabetes"], 2, ["model=logistic classifies", "model=linear"]),
    ("models-show-estimator", ["models", "show", "knn"], 2, ["scikit-learn estimator", "no layers"]),
    ("landscape-function", ["landscape", "fn=rosenbrok"], 2, ["unknown function 'rosenbrok'", "did you mean 'rosenbrock'"]),
    ("landscape-start-3d", ["landscape", "fn=ravine", "--start", "1,2,3"], 2, ["--start", "two numbers x,y"]),
    ("landscape-start-text", ["landscape", "--start", "a,b"], 2, ["--start", "two numbers x,y"]),
    ("landscape-argument", ["landscape", "lr=0.1"], 2, ["unknown argument 'lr=0.1'", "optim.lr=0.01"]),
    ("landscape-optim", ["landscape", "optim=sgd,adamm"], 2, ["unknown optim 'adamm'", "did you mean 'adam'"]),
    ("landscape-optim-twice", ["landscape", "optim=sgd,sgd"], 2, ["name each optimizer once"]),
    ("landscape-tol", ["landscape", "--tol", "0"], 2, ["--tol", "must be > 0"]),
    ("landscape-image", ["landscape", "-o", "paths.txt"], 2, ["cannot write paths.txt", ".png"]),
    ("landscape-run-without-slice", ["landscape", "last", "--output-dir", "{runs}"], 2, ["looks like a run", "--slice 1d"]),
    ("landscape-slice-dims", ["landscape", "last", "--slice", "3d", "--output-dir", "{runs}"], 2, ["--slice 3d", "1d or 2d"]),
    ("landscape-slice-value-missing", ["landscape", "last", "--slice", "--points", "5", "--output-dir", "{runs}"], 2,
     ["--slice needs a value, 1d or 2d"]),
    ("landscape-slice-last-word", ["landscape", "last", "--slice"], 2, ["'--slice' requires an argument", "dlx landscape --help"]),
    ("landscape-slice-no-best", ["landscape", "half", "--slice", "1d", "--output-dir", "{broken}"], 2,
     ["has no best checkpoint", "--slice needs a network"]),
    # --- inputs (issue 13): seeds, sizes, files, import paths; {inputs} is made by `inputs_files`
    ("data-seed-negative", ["train", "data.seed=-1"], 2, ["data.seed", "[0, 2**32)"]),
    ("data-seed-huge", ["train", "data.seed=4294967296"], 2, ["data.seed", "[0, 2**32)"]),
    ("trainer-seed-beyond-64-bits", ["train", "trainer.seed=999999999999999999999999"], 2, ["trainer.seed", "2**64"]),
    ("repeat-negative", ["train", "data.repeat=-1"], 2, ["data.repeat", ">= 0"]),
    ("model-too-large-to-build", ["train", *TINY, "model.hidden=[10000000000]"], 2,
     ["too large to build", "model.hidden"]),
    ("batchnorm-batch-of-one", ["train", *TINY, "regularizer=batchnorm", "trainer.batch_size=1"], 2,
     ["batch norm", "trainer.batch_size >= 2"]),
    ("batchnorm-one-sample", ["train", *TINY, "regularizer=batchnorm", "data.limit=1"], 2,
     ["batch norm", "training split has 1"]),
    ("image-truncated", ["train", *TINY, "data=image_folder", "data.path={inputs}/images", "data.image_size=8",
                         "data.workers=0"], 2, ["cannot read", "bad.png", "data.skip_bad_files=true"]),
    ("image-folder-root-not-path", ["train", "data=image_folder", "data.root=nope"], 2,
     ["needs data.path", "data.root=nope is not read"]),
    ("image-folder-is-a-file", ["train", "data=image_folder", "data.path={inputs}/overflow.csv"], 2,
     ["is a file", "sub-folder"]),
    ("csv-beyond-float32", ["train", *TINY, "data=csv", "data.path={inputs}/overflow.csv", "data.target=y"], 2,
     ["column 'b'", "beyond float32", "line 3"]),
    ("csv-target-beyond-float32", ["train", *TINY, "data=csv", "data.path={inputs}/overflow.csv", "data.target=b",
                                   "data.features=[a]"], 2, ["column 'b'", "beyond float32"]),
    ("csv-missing-suggests-impute", ["train", *TINY, "data=csv", "data.path={inputs}/gaps.csv", "data.target=y"], 2,
     ["column 'a'", "data.dropna=true", "data.impute=mean"]),
    ("csv-missing-target-not-imputed", ["train", *TINY, "data=csv", "data.path={inputs}/gaps.csv", "data.target=y",
                                        "data.impute=mean", "data.features=[b]"], 2,
     ["column 'y'", "data.dropna=true"]),
    ("csv-impute-unknown", ["train", "data=csv", "data.impute=zero"], 2, ["data.impute", "'zero'", "most_frequent"]),
    ("csv-impute-and-dropna", ["train", "data=csv", "data.impute=mean", "data.dropna=true"], 2,
     ["data.impute", "set only one"]),
    ("csv-too-few-groups-for-test", ["train", *TINY, "data=csv", "data.path={inputs}/two_groups.csv",
                                     "data.target=y", "data.group_col=g", "data.test_fraction=0.6"], 2,
     ["group(s)", "data.test_fraction"]),
    ("name-too-long", ["train", "name=" + "n" * 250], 2, ["name is 250 characters", "shorten name"]),
    ("output-dir-part-too-long", ["train", "output_dir=" + "o" * 300], 2, ["output_dir", "255"]),
    ("target-made-by-interpolation", ["train", "model.hidden='${oc.create:{_target_:os.system}}'"], 2,
     ["'model.hidden._target_' is not allowed", "by name"]),
    ("target-made-in-name", ["train", "name='${oc.create:{_target_:os.system,_args_:[ls]}}'"], 2,
     ["_target_' is not allowed"]),
    ("mapping-made-by-interpolation", ["train", "model.hidden='${oc.create:{a:1}}'"], 2,
     ["model.hidden", "a mapping where a list of integers"]),
    ("resume-raw-pickle", ["train", "--resume", "{inputs}/store/runs/2026-01-01_00-00-00_rawpickle"], 1,
     ["refusing to load", "raw Python pickle"]),
    # --- past one machine: shared sweep storage, data-parallel training (issue 18)
    ("storage-unreachable", ["sweep", "--join", "some-sweep", "--storage", "postgresql://me:pw@127.0.0.1:1/db",
                             "--storage-retry", "0.3"], 1,
     ["lost the connection to the study storage postgresql+psycopg://me:***@127.0.0.1:1/db for 0.3 s",
      "dlx sweep --join some-sweep --storage"]),
    ("storage-no-driver", ["sweep", "optim.lr=0.1,0.01", "--storage", "postgresql+psycopg2://me:pw@127.0.0.1:1/db"],
     2, ["no database driver installed for postgresql+psycopg2", "pip install 'dlx[postgres]'"]),
    ("storage-retry-negative", ["sweep", "optim.lr=0.1,0.01", "--storage-retry", "-1"], 2,
     ["--storage-retry must be a number of seconds >= 0"]),
    ("devices-zero", ["train", "trainer.devices=0"], 2, ["trainer.devices", "must be >= 1"]),
    ("backend-unknown", ["train", "trainer.backend=mpi"], 2, ["trainer.backend", "choices: auto, gloo, nccl"]),
    ("nccl-without-cuda", ["train", "trainer.devices=2", "trainer.backend=nccl"], 2,
     ["trainer.backend=nccl needs CUDA", "trainer.backend=gloo"]),
    ("devices-cuda-absent", ["train", "trainer.devices=2", "trainer.device=cuda"], 2,
     ["CUDA is not available", "trainer.device=cpu"]),
    ("sync-bn-on-cpu", ["train", "trainer.devices=2", "trainer.sync_bn=true"], 2,
     ["SyncBatchNorm", "trainer.sync_bn=false"]),
    # --- using trained runs: eval, predict, export, ensemble, bag, transfer learning (issue 14)
    ("predict-missing-column", ["predict", "csvrun", "{use}/miss.csv", "--output-dir", "{use}/outputs"], 2,
     ["no column 'a'", "a feature the model was trained on"]),
    ("predict-unknown-category", ["predict", "csvrun", "{use}/unk.csv", "--output-dir", "{use}/outputs"], 2,
     ["column 'colour'", "'purple'", "never saw in training", "known: blue, green, red"]),
    ("predict-text-in-numbers", ["predict", "csvrun", "{use}/text.csv", "--output-dir", "{use}/outputs"], 2,
     ["column 'b' has the text 'n/a?' (line 4)", "held numbers in training"]),
    ("predict-image-on-table", ["predict", "csvrun", "{use}/img.png", "--output-dir", "{use}/outputs"], 2,
     ["not on image files", "--split test"]),
    ("predict-csv-on-images", ["predict", "digitsrun", "{use}/miss.csv", "--output-dir", "{use}/outputs"], 2,
     ["not on a CSV file", "--split test"]),
    ("predict-input-missing", ["predict", "csvrun", "{use}/nosuch.csv", "--output-dir", "{use}/outputs"], 2,
     ["input not found", "--split test"]),
    ("predict-no-input", ["predict", "csvrun", "--output-dir", "{use}/outputs"], 2, ["give an INPUT", "--split test"]),
    ("predict-no-folder", ["predict", "csvrun", "--split", "test", "-o", "{use}/nosuch/p.csv", "--output-dir",
                           "{use}/outputs"], 2, ["cannot write", "does not exist"]),
    ("export-no-checkpoint", ["export", "nockpt", "--output-dir", "{use}/outputs"], 2,
     ["no checkpoints/best.pt", "trainer.checkpoint=true"]),
    ("export-format", ["export", "csvrun", "--format", "pickle", "--output-dir", "{use}/outputs"], 2,
     ["--format pickle", "torchscript or onnx"]),
    ("eval-split", ["eval", "csvrun", "--split", "dev", "--output-dir", "{use}/outputs"], 2,
     ["--split dev", "test, val, train or all"]),
    ("eval-model-override", ["eval", "csvrun", "optim.lr=0.1", "--output-dir", "{use}/outputs"], 2,
     ["only data overrides", "the model is the run's own"]),
    ("eval-other-shape", ["eval", "digitsrun", "data=iris", "--output-dir", "{use}/outputs"], 2,
     ["shape (4,)", "trained on (1, 8, 8)"]),
    ("eval-unknown-run", ["eval", "nosuch", "--output-dir", "{use}/outputs"], 2, ["no run matches 'nosuch'"]),
    ("ensemble-tasks", ["ensemble", "digitsrun", "regrun", "--output-dir", "{use}/outputs"], 2,
     ["different tasks", "multiclass", "regression"]),
    ("ensemble-splits", ["ensemble", "digitsrun", "seed1run", "--output-dir", "{use}/outputs"], 2,
     ["different test splits", "data.seed is 0", "but 1"]),
    ("ensemble-one-member", ["ensemble", "digitsrun", "digitsrun", "--output-dir", "{use}/outputs"], 2,
     ["at least two different runs"]),
    ("ensemble-nothing", ["ensemble", "--output-dir", "{use}/outputs"], 2, ["name the members", "--cv"]),
    ("ensemble-method", ["ensemble", "digitsrun", "seed1run", "--method", "median"], 2, ["--method median", "mean or vote"]),
    ("ensemble-top-without-sweep", ["ensemble", "--cv", "last", "--top", "3", "--output-dir", "{use}/outputs"], 2,
     ["--top K picks the best trials of a --sweep"]),
    ("bag-one-member", ["bag", "--members", "1"], 2, ["--members 1", "at least 2"]),
    ("bag-bad-override", ["bag", "--members", "2", "optim.lr=abc"], 2, ["optim.lr", "expected a number"]),
    ("freeze-unknown", ["train", "model.freeze=everything"], 2, ["model.freeze", "backbone or a list"]),
    ("freeze-prefix-unknown", ["train", *TINY, "model.freeze=[nett]"], 2, ["no parameter starts with 'nett'", "net"]),
    ("init-from-unknown", ["train", *TINY, "model.init_from=nosuchrun", "output_dir={use}/outputs"], 2,
     ["no run matches 'nosuchrun'"]),
    ("init-from-no-checkpoint", ["train", *TINY, "model.init_from={use}/outputs/runs", "output_dir={use}/outputs"], 2,
     ["model.init_from", "does not exist"]),
    ("head-lr-mult-zero", ["train", "optim.head_lr_mult=0"], 2, ["optim.head_lr_mult", "must be > 0"]),
    ("head-lr-mult-lbfgs", ["train", *TINY, "optim=lbfgs", "optim.head_lr_mult=10"], 2,
     ["head_lr_mult", "lbfgs has a single group"]),
    # --- sweep and cv workers (issue 13)
    ("sweep-metric-not-measured", ["sweep", *TINY, "optim.lr=0.1,0.01", "--metric", "val_auc"], 2,
     ["--metric val_auc is not measured on multiclass data", "val_acc"]),
    ("sweep-monitor-not-measured", ["sweep", *TINY, "optim.lr=0.1,0.01", "trainer.monitor=val_r2"], 2,
     ["trainer.monitor=val_r2 is not measured", "val_loss"]),
    # --- plugins and presets (issue 12)
    ("plugin-import-error", ["--plugin", "{plugins}/broken.py", "train"], 2,
     ["plugin broken.py failed to import (line 2)", "ModuleNotFoundError", "no_such_dependency", "--debug"]),
    ("plugin-raises", ["--plugin", "{plugins}/raises.py", "list"], 2,
     ["plugin raises.py failed to import (line 3)", "RuntimeError: half-written plugin"]),
    ("plugin-syntax-error", ["--plugin", "{plugins}/syntax.py", "models"], 2,
     ["plugin syntax.py failed to import", "SyntaxError"]),
    ("plugin-file-missing", ["--plugin", "{plugins}/nosuch.py", "train"], 2,
     ["plugin '", "nosuch.py' not found", "no such file"]),
    ("plugin-module-missing", ["--plugin", "nosuch_dlx_plugin_module", "train"], 2,
     ["plugin 'nosuch_dlx_plugin_module' not found", "install it"]),
    ("plugin-missing-for-data", ["--plugin", "nosuch_dlx_plugin_module", "data"], 2, ["not found"]),
    ("plugin-name-twice", ["--plugin", "{plugins}/twice.py", "train"], 2,
     ["model 'mlp' is registered twice", "by built-in and by plugin: twice.py"]),
    ("plugin-two-files-same-name", ["--plugin", "{plugins}/one.py", "--plugin", "{plugins}/other.py", "models"], 2,
     ["model 'same_name' is registered twice", "plugin: one.py", "plugin: other.py"]),
    ("plugin-field-no-default", ["--plugin", "{plugins}/nodefault.py", "train"], 2,
     ["model 'nodefault'", "schema field 'width' has no default", "width: int = ..."]),
    ("plugin-field-bad-type", ["--plugin", "{plugins}/badtype.py", "train"], 2,
     ["model 'badtype'", "a type a config cannot hold", "int, float, bool, str"]),
    ("plugin-schema-not-dataclass", ["--plugin", "{plugins}/notdataclass.py", "train"], 2,
     ["model 'notdataclass'", "schema must be a dataclass"]),
    ("plugin-dataset-without-split-keys", ["--plugin", "{plugins}/baddata.py", "train"], 2,
     ["dataset 'baddata'", "must subclass dlx.data.DataConfig"]),
    ("plugins-as-config-key", ["train", "+plugins=[x.py]"], 2, ["plugins are not a config key", "dlx --plugin"]),
    ("config-dir-missing", ["--config-dir", "{plugins}/nosuch", "train"], 2, ["--config-dir", "no such folder"]),
    ("config-dir-preset-unknown-component", ["--config-dir", "{plugins}/conf", "train", "model=ghost"], 2,
     ["preset ", "ghost.yaml", "unknown model 'ghostt'", "choices: ", "cnn"]),
    ("trainer-monitor-auto-typo", ["train", "trainer.monitor=autoo"], 2, ["trainer.monitor", "auto or a validation metric"]),
    # --- diagnostics (issue 15)
    ("watch-unknown", ["train", "trainer.watch=grad"], 2, ["trainer.watch", "did you mean 'grads'", "activations, all, grads, none, weights"]),
    ("watch-not-string", ["train", "trainer.watch=[grads]"], 2, ["trainer.watch"]),
    ("profile-not-bool", ["train", "trainer.profile=maybe"], 2, ["trainer.profile", "true or false"]),
    ("overfit-negative", ["train", "trainer.overfit_batches=-1"], 2, ["trainer.overfit_batches", "must be >= 0"]),
    ("overfit-not-int", ["train", "trainer.overfit_batches=half"], 2, ["trainer.overfit_batches", "an integer"]),
    ("norm-unknown", ["train", "model.norm=batchh"], 2, ["unknown norm 'batchh'", "batch"]),
    ("norm-unknown-cnn", ["train", "model=cnn", "model.norm=instance"], 2, ["unknown norm 'instance'"]),
    ("norm-resnet-auto", ["train", "model=resnet", "model.norm=auto"], 2, ["model.norm", "choices: batch, group, layer, none"]),
    ("skip-not-bool", ["train", "model=resnet", "model.skip=maybe"], 2, ["model.skip", "true or false"]),
    ("skip-on-mlp", ["train", "model.skip=false"], 2, ["unknown key 'model.skip'", "dlx train --cfg"]),
    ("lr-find-few-steps", ["lr-find", "--steps", "5"], 2, ["--steps 5", "at least 10"]),
    ("lr-find-range-reversed", ["lr-find", "--start", "1", "--end", "0.1"], 2, ["need 0 < start < end"]),
    ("lr-find-range-zero", ["lr-find", "--start", "0"], 2, ["need 0 < start < end"]),
    ("lr-find-bad-model", ["lr-find", "model=resnett"], 2, ["unknown model 'resnett'", "did you mean 'resnet'"]),
    ("lr-find-bad-key", ["lr-find", "optim.lrr=0.1"], 2, ["optim.lrr", "did you mean 'optim.lr'"]),
    ("lr-find-steps-not-int", ["lr-find", "--steps", "many"], 2, ["'--steps'", "dlx lr-find --help"]),
    ("show-layers-unwatched", ["show", "_done", "--layers", "--output-dir", "{runs}"], 2,
     ["has no layers.csv", "trainer.watch=all"]),
    ("show-layers-and-importance", ["show", "_done", "--layers", "--importance", "--output-dir", "{runs}"], 2,
     ["give one of them"]),
    ("show-importance-no-trials", ["show", "last", "--importance", "--output-dir", "{studies}"], 2,
     ["0 completed trial(s)", "at least 2"]),
    ("show-importance-unknown", ["show", "nosuch", "--importance", "--output-dir", "{studies}"], 2,
     ["no sweep matches 'nosuch'"]),
    ("plot-boundary-digits", ["plot", "_done", "--boundary", "--output-dir", "{runs}"], 2,
     ["2-D data only", "1x8x8 features", "data=moons"]),
    ("plot-boundary-two-runs", ["plot", "_done", "_open", "--boundary", "--output-dir", "{runs}"], 2,
     ["exactly one run"]),
    ("plot-boundary-no-folder", ["plot", "_done", "--boundary", "-o", "{runs}/nosuch/b.png", "--output-dir", "{runs}"],
     2, ["cannot write", "does not exist"]),
    ("plot-boundary-and-layers", ["plot", "_done", "--boundary", "--layers", "grad_norm"], 2, ["give one of them"]),
    ("plot-layers-unwatched", ["plot", "_done", "--layers", "grad_norm", "--output-dir", "{runs}"], 2,
     ["has no layers.csv", "trainer.watch=all"]),
    ("plot-sweep-no-trials", ["plot", "--sweep", "last", "--output-dir", "{studies}"], 2, ["no completed trial"]),
    ("plot-sweep-unknown", ["plot", "--sweep", "nosuch", "--output-dir", "{studies}"], 2, ["no sweep matches 'nosuch'"]),
    ("plot-sweep-and-runs", ["plot", "_done", "--sweep", "last", "--output-dir", "{studies}"], 2,
     ["drop the run ids"]),
    ("sweep-refine-unknown", ["sweep", "--refine", "nosuch", "output_dir={studies}"], 2, ["no sweep matches 'nosuch'"]),
    ("sweep-refine-no-trials", ["sweep", "--refine", "last", "output_dir={studies}"], 2,
     ["no completed trial to refine around", "--resume"]),
    ("sweep-refine-top-zero", ["sweep", "--refine", "last", "--top", "0", "output_dir={studies}"], 2, ["--top 0"]),
    ("sweep-refine-and-resume", ["sweep", "--refine", "last", "--resume", "last"], 2, ["does not combine"]),
    ("sweep-refine-empty", ["sweep", "--refine", ""], 2, ["--refine needs a sweep"]),
    ("sweep-refine-swept-key", ["sweep", "--refine", "last", "optim.lr=0.1,0.2", "output_dir={studies}"], 2,
     ["narrows the old sweep's own space", "optim.lr=0.1,0.2"]),

    # --- generative and graph models (issue 17)
    ("gnn-on-tabular", ["train", *TINY, "model=gnn", "data=iris"], 2,
     ["model=gnn does not train on multiclass data", "graph-nodes", "data=karate"]),
    ("graph-edge-without-features", ["train", *TINY, "model=gnn", "data=graph_csv", "data.nodes={csv}/graph_nodes.csv",
                                     "data.edges={csv}/graph_edges.csv"], 2,
     ["graph_edges.csv names 1 node(s) with no row", "ghost", "add their features"]),
    ("graph-csv-no-edges", ["train", "model=gnn", "data=graph_csv", "data.nodes={csv}/graph_nodes.csv"], 2,
     ["graph_csv needs data.edges"]),
    ("sample-not-generative", ["sample", "done", "--output-dir", "{runs}"], 2,
     ["trained model=mlp, which does not generate samples", "model=autoencoder | vae | gan"]),
    ("sample-zero", ["sample", "done", "-n", "0", "--output-dir", "{runs}"], 2, ["-n 0", "at least 1"]),
    ("gan-regression-csv", ["train", *TINY, "model=gan", "data=csv", "data.path={csv}/ok.csv", "data.target=x1",
                            "data.task=regression"], 2,
     ["model=gan does not train on regression data", "ignores labels", "data.task=multiclass"]),
    ("gan-d-steps", ["train", "model=gan", "data=moons", "model.d_steps=0"], 2, ["model.d_steps", "must be >= 1"]),
    # --- conv generative models, graph classification, karate, eval / predict (issue 17, second part)
    ("conv-vae-on-points", ["train", *TINY, "model=vae", "model.family=conv", "data=moons"], 2,
     ["model.family=conv needs images", "model.family=mlp"]),
    ("conv-gan-odd-size", ["train", *TINY, "model=gan", "model.family=conv", "model.channels=[4,4,4,4]",
                           "data=digits"], 2, ["8×8 is not divisible by 16", "fewer model.channels"]),
    ("vae-unknown-family", ["train", "model=vae", "model.family=cnn"], 2, ["model.family", "choices: conv, mlp"]),
    ("graph-set-without-readout", ["train", *TINY, "model=gnn", "data=graph_set", "data.graphs_per_class=4"], 2,
     ["classifies whole graphs", "model.readout=sum|mean|max"]),
    ("graph-set-mlp", ["train", *TINY, "data=graph_set", "data.graphs_per_class=4"], 2,
     ["classifies whole graphs: use model=gnn"]),
    ("readout-on-node-data", ["train", *TINY, "model=gnn", "model.readout=sum", "data=karate"], 2,
     ["model.readout=sum pools whole graphs", "classifies nodes"]),
    ("graph-set-one-shape", ["train", "model=gnn", "data=graph_set", "data.shapes=[er]"], 2,
     ["data.shapes", "two or more"]),
    ("karate-three-communities", ["train", "model=gnn", "data=karate", "data.communities=3"], 2,
     ["data.communities", "must be 2 (the clubs) or 4"]),
    ("predict-vae", ["predict", "vae17", "--split", "test", "--output-dir", "{gen17}"], 2,
     ["model=vae, which predicts no labels", "dlx eval RUN", "dlx sample RUN"]),
    ("eval-gan", ["eval", "gan17", "--output-dir", "{gen17}"], 2, ["is a GAN", "summary.json", "dlx sample RUN"]),
    ("predict-gnn-input-file", ["predict", "gnn17", "{csv}/ok.csv", "--output-dir", "{gen17}"], 2,
     ["graph model (graph-nodes)", "not on an INPUT file", "--split test"]),
    ("eval-gnn-bad-split", ["eval", "gnn17", "--split", "dev", "--output-dir", "{gen17}"], 2,
     ["--split dev", "choose test, val, train or all"]),

    # --- sequences, text and language models (issue 16)
    ("text-no-path", ["train", "model=lm", "data=text"], 2, ["data=text needs data.path"]),
    ("text-missing-file", ["train", "model=lm", "data=text", "data.path=nope.txt"], 2, ["no such file"]),
    ("text-empty", ["train", "model=lm", "data=text", "data.path={csv}/empty.csv"], 2, ["is empty", "text file"]),
    ("text-binary", ["train", "model=lm", "data=text", "data.path={csv}/binary.txt"], 2, ["is binary", "UTF-8"]),
    ("text-not-utf8", ["train", "model=lm", "data=text", "data.path={csv}/latin1.txt"], 2, ["not UTF-8", "convert"]),
    ("text-context-too-long", ["train", "model=lm", "data=text", "data.path={csv}/ok.csv", "data.context=500"], 2,
     ["data.context=500 needs 501 tokens", "lower data.context"]),
    ("text-level", ["train", "model=lm", "data=text", "data.level=byte"], 2, ["data.level", "choices: char, word"]),
    ("seq2seq-on-tabular", ["train", "model=seq2seq", *TINY], 2, ["model=seq2seq does not train on multiclass data",
                                                                   "needs seq2seq data", "data=copy"]),
    ("lm-on-tabular", ["train", "model=lm", *TINY], 2, ["model=lm does not train on multiclass data",
                                                         "needs language data", "data=text"]),
    ("mlp-on-pairs", ["train", "model=mlp", "data=reverse"], 2, ["sequence-to-sequence", "use model=seq2seq"]),
    ("mlp-on-text", ["train", "model=mlp", "data=text", "data.path={csv}/ok.csv", "data.context=4"], 2,
     ["language data", "use model=lm"]),
    ("seq2seq-attention", ["train", "model=seq2seq", "data=reverse", "model.attention=luong"], 2,
     ["model.attention", "additive"]),
    ("seq2seq-teacher-forcing", ["train", "model=seq2seq", "data=reverse", "model.teacher_forcing=2"], 2,
     ["model.teacher_forcing", "[0, 1]"]),
    ("seq2seq-beam-too-wide", ["train", "model=seq2seq", "data=reverse", "data.n_samples=20", "model.beam=50"], 2,
     ["model.beam=50", "lower it"]),
    ("pairs-length-range", ["train", "model=seq2seq", "data=copy", "data.min_length=5", "data.max_length=3"], 2,
     ["data.max_length", "data.min_length"]),
    ("lm-heads", ["train", "model=lm", "model.d_model=10", "model.num_heads=4"], 2, ["model.num_heads", "divide"]),
    ("generate-not-lm", ["generate", "done", "--output-dir", "{runs}"], 2, ["is not a language model", "model=lm"]),
    ("series-window-too-long", ["train", "model=gru", "data=timeseries", "data.path={csv}/ok.csv", "data.target=x1",
                                "data.window=50"], 2, ["data.window=50", "the training part has", "lower data.window"]),
    ("series-no-target", ["train", "model=gru", "data=timeseries", "data.path={csv}/ok.csv"], 2,
     ["data.target=COLUMN"]),
    ("series-unknown-column", ["train", "model=gru", "data=timeseries", "data.path={csv}/ok.csv", "data.target=y"],
     2, ["column 'y' is not in", "x1, x2, label"]),
    ("series-text-column", ["train", "model=gru", "data=timeseries", "data.path={csv}/text.csv", "data.target=label"],
     2, ["must be numbers"]),
    ("plot-attention-none-saved", ["plot", "done", "--attention", "--output-dir", "{runs}"], 2,
     ["saved no attention weights", "model=seq2seq"]),
    ("plot-attention-two-runs", ["plot", "done", "open", "--attention", "--output-dir", "{runs}"], 2,
     ["--attention draws one run"]),
    ("cv-repeats-on-series", ["cv", "model=gru", "data=timeseries", "data.path={csv}/ok.csv", "data.target=x1",
                              "data.window=2", "--folds", "2", "--repeats", "2"], 2,
     ["--repeats 2", "forward-chaining folds", "use --repeats 1"]),
    ("generate-temperature", ["generate", "done", "--temperature", "-1", "--output-dir", "{runs}"], 2,
     ["--temperature"]),
    ("transformer-causal-on-tabular", ["train", *TINY, "model=transformer", "model.causal=true"], 2,
     ["model.causal=true makes a language model", "data=digits is multiclass", "drop model.causal"]),
    ("transformer-not-causal-on-text", ["train", "model=transformer", "data=text", "data.path={csv}/ok.csv",
                                        "data.context=4"], 2, ["language data", "model.causal=true"]),
    ("seq2seq-transformer-heads", ["train", "model=seq2seq", "data=reverse", "model.cell=transformer",
                                   "model.hidden_size=30", "model.num_heads=4"], 2, ["model.num_heads", "divide"]),
    # --- cheap checks before torch: the built-in groups' values (issue 13, item 10; tests/test_inputs.py
    # checks that torch is not imported when these are refused)
    ("momentum-above-one", ["train", "optim=sgd", "optim.momentum=2"], 2, ["optim.momentum", "[0, 1)"]),
    ("cnn-pool-unknown", ["train", "model=cnn", "model.pool=sum"], 2, ["model.pool", "choices: avg, max"]),
    ("resnet-depth-unknown", ["train", "model=resnet", "model.depth=19"], 2, ["model.depth", "choose one of"]),
    ("scheduler-gamma-negative", ["train", "scheduler=step", "scheduler.gamma=-1"], 2, ["scheduler.gamma", "> 0"]),
    ("onecycle-pct-start", ["train", "scheduler=onecycle", "scheduler.pct_start=1.5"], 2,
     ["scheduler.pct_start", "(0, 1)"]),
    ("regularizer-l2-negative", ["train", "regularizer.l2=-1"], 2, ["regularizer.l2", ">= 0"]),
    ("trainer-type", ["train", "trainer.epochs=abc"], 2, ["trainer.epochs", "expected an integer"]),
    ("huber-delta-zero", ["train", "loss=huber", "loss.delta=0"], 2, ["loss.delta", "> 0"]),
    # --- token sequences, seq2seq predict, models show (issue 16, rest)
    ("mlp-on-tokens", ["train", "model=mlp", "data=majority", "data.n_samples=20"], 2,
     ["model=mlp cannot read token sequences", "gru, lstm, rnn, transformer"]),
    ("cnn-on-tags", ["train", "model=cnn", "data=running_max", "data.n_samples=20"], 2,
     ["model=cnn cannot read token sequences"]),
    ("causal-on-tags", ["train", "model=transformer", "model.causal=true", "data=running_max", "data.n_samples=20"],
     2, ["model.causal=true makes a language model", "tagging data", "drop model.causal"]),
    ("predict-seq-unknown-symbol", ["predict", "seq16", "{gen17}/unknown.txt", "--output-dir", "{gen17}"], 2,
     ["unknown.txt line 1", "'x' is not one of the run's symbols", "0 1 2"]),
    ("predict-seq-too-long", ["predict", "seq16", "{gen17}/long.txt", "--output-dir", "{gen17}"], 2,
     ["long.txt line 2 has 5 symbols", "reads at most 3"]),
    ("predict-seq-no-file", ["predict", "seq16", "{gen17}/absent.txt", "--output-dir", "{gen17}"], 2,
     ["input not found", "one sequence per line"]),
    ("predict-lm", ["predict", "lm16", "--split", "test", "--output-dir", "{gen17}"], 2,
     ["is a language model", "dlx generate RUN", "dlx eval RUN"]),
    ("export-seq2seq", ["export", "seq16", "--output-dir", "{gen17}"], 2,
     ["reads token sequences", "dlx export writes models of real-valued inputs only", "dlx predict RUN"]),
    ("models-show-lm-without-text", ["models", "show", "lm"], 2, ["model=lm does not train on multiclass data",
                                                                  "data=text"]),
    ("models-show-seq2seq-on-digits", ["models", "show", "seq2seq", "data=digits"], 2,
     ["model=seq2seq does not train on multiclass data", "data=copy"]),
    ("models-show-causal-on-digits", ["models", "show", "transformer", "model.causal=true"], 2,
     ["model.causal=true makes a language model", "drop model.causal"]),
]

BAD_PLUGINS = {  # {plugins}/<name>: a plugin with one mistake each (none registers anything)
    "broken.py": "from dlx import register_model\nimport no_such_dependency\n",
    "raises.py": "from dlx import register_model\n\nraise RuntimeError('half-written plugin')\n",
    "syntax.py": "def oops(:\n",
    "twice.py": "from dlx import register_model\n\n@register_model('mlp')\ndef build(cfg, shape, n):\n    pass\n",
    "one.py": "from dlx import register_model\n\n@register_model('same_name')\ndef build(cfg, shape, n):\n    pass\n",
    "other.py": "from dlx import register_model\n\n@register_model('same_name')\ndef build(cfg, shape, n):\n    pass\n",
    "nodefault.py": "from dataclasses import dataclass\nfrom dlx import register_model\n\n@dataclass\nclass C:\n"
                    "    width: int\n\n@register_model('nodefault', schema=C)\ndef build(cfg, shape, n):\n    pass\n",
    "badtype.py": "import datetime\nfrom dataclasses import dataclass\nfrom dlx import register_model\n\n@dataclass\n"
                  "class C:\n    when: complex = 1j\n\n@register_model('badtype', schema=C)\ndef build(cfg, shape, n):\n"
                  "    pass\n",
    "notdataclass.py": "from dlx import register_model\n\n@register_model('notdataclass', schema=dict)\n"
                       "def build(cfg, shape, n):\n    pass\n",
    "baddata.py": "from dataclasses import dataclass\nfrom dlx import register_dataset\n\n@dataclass\nclass C:\n"
                  "    size: int = 3\n\n@register_dataset('baddata', schema=C)\ndef build(cfg):\n    pass\n",
    "conf/model/ghost.yaml": "# a preset of a component that does not exist\nname: ghostt\n",
}

CSV_FILES = {  # name: content; ok.csv: train+val keeps 6 of its 8 rows, 3 of each class
    "ok.csv": "x1,x2,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(8)),
    "nan.csv": "x1,x2,label\n1,2,0\n2,,1\n3,4,0\n4,5,1\n",
    "inf.csv": "x1,x2,label\ninf,2,0\n2,3,1\n3,4,0\n4,5,1\n",
    "one.csv": "x1,x2,label\n1,2,0\n2,3,0\n3,4,0\n",
    "text.csv": "x1,x2,label\n1,2,cat\n2,3,dog\n3,4,cat\n",
    "broken.csv": 'x1,x2,label\n1,2,"0\n',
    "empty.csv": "",
    "graph_nodes.csv": "id,f,label\n" + "".join(f"n{i},{i},{i % 2}\n" for i in range(8)),  # issue 17
    "graph_edges.csv": "source,target\nn0,n1\nn2,ghost\n",
    "binary.txt": "\x00\x01\x02 not text",  # issue 16: text files
}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """The folders the placeholders name (see the module docstring); tiny runs, trained in-process."""
    from dlx import config
    from dlx.cv import driver as cv
    from dlx.engine import experiment
    from dlx.sweep import driver as sweep

    home = tmp_path_factory.mktemp("home")
    out = home / "outputs"
    for name in ("done", "open", "open2"):
        exp = config.load([*TINY, "model.hidden=[64]", f"name={name}", f"output_dir={out}"])
        summary = experiment.run(exp)
        if name != "done":  # what a run killed just before writing summary.json leaves
            path = out / "runs" / summary["run_id"]
            (path / "summary.json").unlink()
            (path / "status.json").write_text(json.dumps({"status": "running"}))
    (out / "empty").mkdir()
    (out / "summary-file.txt").write_text("not a folder\n")

    studies = home / "studies"
    sweep.start([*TINY, "optim.lr=0.1,0.01", f"output_dir={studies}"], jobs=0)  # created, no trial run
    cv.cross_validate([*TINY, f"output_dir={studies}"], 2)

    broken = home / "broken" / "runs"
    (broken / "2026-01-01_00-00-00_bad").mkdir(parents=True)
    (broken / "2026-01-01_00-00-00_bad" / "summary.json").write_text("{half-writ")
    (broken / "2026-01-01_00-00-01_half").mkdir()
    (broken / "2026-01-01_00-00-01_half" / "status.json").write_text(json.dumps({"status": "running"}))

    csv = home / "csv"
    csv.mkdir()
    for name, text in CSV_FILES.items():
        (csv / name).write_text(text)
    (csv / "latin1.txt").write_bytes("café crème".encode("latin-1"))  # issue 16
    from tests.test_use import bad_input_places  # issue 14: `{use}`

    places = bad_input_places(home)
    gen = home / "gen17"  # issue 17: a run of each generative kind and a graph run, apart from {runs}
    for name, keys in (("vae17", ["model=vae", "data=digits"]), ("gan17", ["model=gan", "data=moons"]),
                       ("gnn17", ["model=gnn", "data=karate"])):
        experiment.run(config.load([*TINY, *keys, f"name={name}", f"output_dir={gen}"]))
    experiment.run(config.load([*TINY, "model=seq2seq", "data=copy", "data.n_samples=40", "data.min_length=2",
                                "data.max_length=3", "model.hidden_size=8", "name=seq16", f"output_dir={gen}"]))
    (gen / "unknown.txt").write_text("3 0 x\n")  # issue 16: sources for `dlx predict seq16 FILE`
    (gen / "long.txt").write_text("1 2\n1 2 3 0 1\n")
    (gen / "corpus.txt").write_text("the cat sat on the mat. " * 20)
    experiment.run(config.load([*TINY, "model=lm", "data=text", f"data.path={gen / 'corpus.txt'}", "data.context=8",
                                "model.d_model=8", "model.num_heads=2", "name=lm16", f"output_dir={gen}"]))
    bad_plugins = home / "plugins"
    for name, text in BAD_PLUGINS.items():
        (bad_plugins / name).parent.mkdir(parents=True, exist_ok=True)
        (bad_plugins / name).write_text(text)
    yield {"{runs}": str(out), "{studies}": str(studies), "{broken}": str(broken.parent), "{csv}": str(csv),
           "{inputs}": str(inputs_files(home, out)), "{plugins}": str(bad_plugins), "{gen17}": str(gen), **places}
    shutil.rmtree(home, ignore_errors=True)


def fill(arg: str, places: dict) -> str:
    for placeholder, path in places.items():
        arg = arg.replace(placeholder, path)
    return arg


@pytest.mark.parametrize("argv, code, fragments", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line(dlx, home, argv, code, fragments):
    result = dlx(*(fill(a, home) for a in argv))
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert result.code == code, result.err
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.out + result.err


def test_table_is_big_enough():
    assert len(CASES) >= 150
    assert {c[1][0] for c in CASES} >= {"train", "list", "data", "sweep", "cv", "runs", "show", "compare", "plot"}
    assert len({c[0] for c in CASES}) == len(CASES)


def test_bare_dlx_prints_its_help(dlx):
    result = dlx()
    assert result.code == 0 and result.err == ""
    assert "Commands:" in result.out and "error" not in result.out


@pytest.mark.slow
def test_one_line_in_a_real_process_and_traceback_with_debug(tmp_path):
    plain = run_process(["train", "optim.lr=abc"], cwd=tmp_path)
    assert plain.returncode == 2
    assert plain.stderr.strip().count("\n") == 0 and "Traceback" not in plain.stderr
    debug = run_process(["--debug", "train", "optim.lr=abc"], cwd=tmp_path)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def inputs_files(home, out):
    """{inputs} (issue 13): a truncated image, CSVs beyond float32 / with gaps / with two groups, and a
    resumable run whose last.pt is a raw pickle."""
    import pickle

    import numpy as np
    from PIL import Image

    folder = home / "inputs"
    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        (folder / "images" / c).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(folder / "images" / c / f"{i}.png")
    whole = (folder / "images" / "cat" / "0.png").read_bytes()
    (folder / "images" / "cat" / "bad.png").write_bytes(whole[: len(whole) // 2])
    (folder / "overflow.csv").write_text("a,b,y\n1,2,3\n2,1e39,4\n3,4,5\n4,5,6\n5,6,7\n6,7,8\n")
    (folder / "gaps.csv").write_text("a,b,y\n1,2,3\n,2,4\n3,4,\n4,5,6\n5,6,7\n6,7,8\n")
    (folder / "two_groups.csv").write_text("a,g,y\n" + "".join(f"{i},{i % 2},{i % 2}\n" for i in range(12)))
    run = folder / "store" / "runs" / "2026-01-01_00-00-00_rawpickle"
    shutil.copytree(next((out / "runs").glob("*_open")), run)
    for name in ("last.pt", "last.prev.pt"):
        (run / "checkpoints" / name).unlink(missing_ok=True)
    (run / "checkpoints" / "last.pt").write_bytes(pickle.dumps({"model": {}, "epoch": 1}))
    return folder
