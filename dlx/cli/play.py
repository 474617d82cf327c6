"""`dlx play RUN`: watch a trained agent (issue 25)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from dlx.cli.app import OutputDir, app
from dlx.cli.use import Checkpoint, Run, stopping


@app.command(short_help="Render a trained agent's episodes into a GIF (FrozenLake: also its policy grid).",
             epilog="\b\nExample:\n  dlx play last --episodes 3 -o play.gif")
def play(
    run: Run,
    episodes: Annotated[int, typer.Option("--episodes", "-n", help="Greedy episodes to play, one after "
                                          "the other in the GIF.")] = 3,
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", help="The .gif to write (or a folder); default RUN/play/episodes-N.gif.",
        show_default=False)] = None,
    seed: Annotated[Optional[int], typer.Option(
        "--seed", help="Episode i starts from an env reset with seed S+i (default: the run's test seeds, "
        "as dlx eval --episodes plays them).", show_default=False)] = None,
    fps: Annotated[Optional[int], typer.Option("--fps", help="Frames per second of the GIF (default: the "
                                               "environment's own speed).", show_default=False)] = None,
    checkpoint: Checkpoint = "best",
    output_dir: OutputDir = "outputs",
):
    """Play --episodes greedy episodes of RUN's agent, rendered (rgb_array) into an animated GIF, and
    print each episode's return and length; for a grid world (data=frozenlake) also draw the greedy
    policy as arrows and the state values, cell by cell."""
    from dlx.report.grid import print_play
    from dlx.use import play as watching
    from dlx.use.restore import find

    watching.check_options(episodes, fps)  # before torch loads: a wrong option is said at once
    target = watching.check_output(output, watching.gif_name(episodes, seed))
    path = find(run, output_dir)
    watching.agent_run(path)
    with stopping("dlx play"):
        played = watching.play(path, episodes, seed, fps, target, checkpoint)
    print_play(played)
