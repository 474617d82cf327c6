"""`dlx lr-find`: the range test's curve (matplotlib) and its one-screen verdict."""

from __future__ import annotations


def curve_figure(result):
    from dlx.report.figures import new_figure

    fig = new_figure((6, 4))
    ax = fig.subplots()
    lrs = [r["lr"] for r in result.rows]
    ax.plot(lrs, [r["loss"] for r in result.rows], color="0.7", linewidth=1, label="loss")
    ax.plot(lrs, [r["smoothed"] for r in result.rows], color="C0", label="smoothed")
    if result.minimum_lr:
        ax.axvline(result.minimum_lr, color="C3", linestyle=":", label=f"minimum {result.minimum_lr:.2g}")
    if result.suggestion:
        ax.axvline(result.suggestion, color="C2", linestyle="--", label=f"suggested {result.suggestion:.2g}")
    finite = [r["smoothed"] for r in result.rows if r["smoothed"] < float("inf")]
    raw = [r["loss"] for r in result.rows if r["loss"] < float("inf")]
    if finite:  # the falling part in view; the blow-up past the minimum is cut off
        ax.set_ylim(min(raw + finite) * 0.9, min(max(finite), finite[0] * 4) * 1.05)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.set_title("LR range test")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def print_lr_find(result, folder) -> None:
    from dlx.report.text import console

    steps = len(result.rows)
    first, last = result.rows[0]["lr"], result.rows[-1]["lr"]
    console.print(f"{steps} steps, lr {first:.1e} -> {last:.1e}" + (f"; {result.stopped}" if result.stopped else ""),
                  highlight=False)
    if result.suggestion is None:
        console.print("no suggestion: the smoothed loss never fell below its start — lower --start "
                      "or check the model and data (try trainer.overfit_batches=1)", highlight=False)
    else:
        console.print(f"smoothed loss lowest at lr {result.minimum_lr:.2e}; suggested lr (a tenth of it): "
                      f"{result.suggestion:.2e}", highlight=False)
        console.print(f"use: optim.lr={result.suggestion:.2g}", highlight=False)
    console.print(f"curve: {folder}/curve.png, {folder}/curve.csv", highlight=False, soft_wrap=True)
