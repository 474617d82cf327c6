"""`dlx play`'s terminal output: each episode's return and length, and for a grid world
(FrozenLake) the greedy policy as arrows and the state values, cell by cell as the map lies."""

from __future__ import annotations

from rich import box
from rich.table import Table

from dlx.report.text import console, err_console, fmt, plain_table

ARROWS = "←↓→↑"  # FrozenLake's actions: 0 left, 1 down, 2 right, 3 up
ENDS = {"H": ("hole", "red"), "G": ("goal", "bold green")}  # cells where an episode ends: no action


def policy_grid(rows: list[str], actions, values, title: str = "") -> Table:
    """One cell per map cell: the greedy action's arrow over the state's value; holes and the goal
    by name. `actions` and `values` are (nrow, ncol) arrays aligned with `rows` (S F H G letters)."""
    table = Table(title=title or None, title_justify="left", show_header=False, show_lines=True, box=box.SQUARE)
    for _ in rows[0]:
        table.add_column(justify="center", min_width=6)
    arrows = ARROWS if int(actions.max()) < len(ARROWS) else None  # another grid's actions: their numbers
    for r, row in enumerate(rows):
        cells = []
        for c, letter in enumerate(row):
            if letter in ENDS:
                name, style = ENDS[letter]
                cells.append(f"[{style}]{name}[/]")
                continue
            action = int(actions[r, c])
            move = arrows[action] if arrows else str(action)
            start = "[bold]S[/] " if letter == "S" else ""
            cells.append(f"{start}[bold cyan]{move}[/]\n[dim]{values[r, c]:.2f}[/]")
        table.add_row(*cells)
    return table


def episodes_table(played) -> Table:
    table = Table(**plain_table())
    for name in ("episode", "seed", "return", "length"):
        table.add_column(name, justify="right")
    for i, (seed, total, length) in enumerate(played.episodes, start=1):
        table.add_row(str(i), str(seed), fmt(float(total), 2), str(length))
    return table


def print_play(played) -> None:
    """The episodes, the grid world's policy (if any), then where the GIF went (on stderr)."""
    console.print(f"{played.run_id} · {played.env_id} · {played.checkpoint}.pt, greedy", highlight=False)
    console.print(episodes_table(played))
    if played.grid is not None:
        rows, actions, values = played.grid
        console.print(policy_grid(rows, actions, values, "greedy policy and state values V(s)"))
    err_console.print(f"wrote {played.path} ({played.frames} frames at {played.fps} fps)", highlight=False,
                      soft_wrap=True)
