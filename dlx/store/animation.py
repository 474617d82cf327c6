"""Animated GIFs of an agent's episodes (`dlx play`), written atomically with Pillow (which
torchvision already brings: no new dependency).

    outputs/runs/<id>/play/episodes-<n>[-seed-<s>].gif   dlx play's default target

Frames arrive one episode at a time, so a caller can render the next episode only when the
previous one is handed over: Pillow keeps each frame as palette bytes (a third of the RGB frame)
until the file is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

from dlx.store.files import atomic_write

HOLD_MS = 600  # the last frame of each episode stays this long: where one episode ends is visible
MAX_FPS = 50  # GIF delays are whole centiseconds, and browsers slow delays under 2 cs to 10 cs


PLAY = "play"


def play_path(run_path: Path, name: str) -> Path:
    """RUN/play/<name> (the folder made here: the store writes outputs/)."""
    folder = Path(run_path) / PLAY
    folder.mkdir(exist_ok=True)
    return folder / name


def write_gif(path: Path, episodes: Iterable[Sequence], fps: int) -> int:
    """The frames ((H, W, 3) uint8 arrays) of each episode, in order, as one looping GIF at `fps`
    frames per second; returns the number of frames given. Consecutive identical frames become
    one longer frame (Pillow), so a reader may count fewer frames over the same duration."""
    from PIL import Image

    step = round(1000 / fps)
    count = 0

    def images():
        nonlocal count
        for frames in episodes:
            for i, frame in enumerate(frames):
                # each frame's own 256 colours, by fast octree: 1.7 ms for a CartPole frame where
                # Pillow's default (median cut, inside save) takes 13 ms; and kept at a third the size
                image = Image.fromarray(frame).quantize(256, method=Image.Quantize.FASTOCTREE)
                image.info["duration"] = max(HOLD_MS, step) if i == len(frames) - 1 else step
                count += 1
                yield image

    def write(file) -> None:
        stream = images()
        first = next(stream, None)
        if first is None:
            raise ValueError("write_gif needs at least one frame")
        first.save(file, format="GIF", save_all=True, append_images=stream, loop=0)

    atomic_write(Path(path), write, binary=True)
    return count
