"""`dlx show` marks exactly the config keys that differ from dlx's defaults."""

from dlx.report.show import differs_from_defaults
from dlx.store.runs import flatten


def test_show_stars_what_differs_from_the_defaults(dlx):
    assert dlx("train", "trainer.epochs=2", "data.limit=200", "optim.lr=0.005", "model.hidden=[32]",
               "trainer.num_threads=1", "-q").code == 0
    result = dlx("show", "last")
    assert result.code == 0, result.err
    out = " ".join(result.out.split())
    for starred in ("lr=0.005*", "hidden=[32]*", "epochs=2*", "limit=200*"):
        assert starred in out, starred
    for plain in ("seed=0 ", "name=adam ", "batch_size=32 "):
        assert plain in out and plain.strip() + "*" not in out, plain


def test_a_group_swap_marks_the_keys_it_changes_only():
    base = flatten({"optim": {"name": "adam", "lr": 0.001, "weight_decay": 0.0}, "trainer": {"seed": 0}})
    assert differs_from_defaults(base) == set()
    swapped = {**base, "optim.name": "sgd", "optim.lr": 0.05}
    assert differs_from_defaults(swapped) == {"optim.name", "optim.lr"}
