"""Summarize py-spy raw stacks (``bench/run.py --profile DIR``) as shares of the busy samples.

Usage: ``python bench/profile_summary.py DIR/hostca-1.txt [--top 25] [--match TEXT ...]``.

py-spy's raw format has one line per distinct stack: the frames from the thread's
root to the leaf, separated by semicolons, then a space and the sample count.
Samples whose leaf waits (a lock, a condition, the event loop's selector) are
left out, so the shares are of the time the server was busy. For each frame the
table gives the share of busy samples in which it appears anywhere on the stack
("inclusive") and at the top ("own").
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

# Leaf frames of a thread that waits rather than works.
WAITING_LEAVES = ("Condition.wait", "Event.wait", "Queue.get", "select (selectors.py", "_worker (")


def frame_label(frame: str) -> str:
    """Return ``function (file:line)`` with the file's path cut to its last two parts."""
    name, _, location = frame.partition(" (")
    location = location.rstrip(")")
    path, _, line = location.rpartition(":")
    short = "/".join(Path(path).parts[-2:]) if path else location
    return f"{name} ({short}:{line})" if line else f"{name} ({short})"


def summarize(lines: list[str]) -> tuple[int, Counter[str], Counter[str]]:
    """Return the busy sample count and the inclusive and own samples per frame."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    busy = 0
    for line in lines:
        stack, _, count_text = line.rstrip().rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        if any(frames[-1].startswith(leaf) for leaf in WAITING_LEAVES):
            continue
        count = int(count_text)
        busy += count
        for frame in {frame_label(frame) for frame in frames}:
            inclusive[frame] += count
        own[frame_label(frames[-1])] += count
    return busy, inclusive, own


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("profile", type=Path, help="a raw py-spy file from bench/run.py --profile")
    parser.add_argument("--top", type=int, default=25, help="frames to list (default 25)")
    parser.add_argument(
        "--match",
        action="append",
        default=[],
        metavar="TEXT",
        help="list only frames that contain TEXT; may be given more than once",
    )
    parser.add_argument(
        "--roots",
        action="store_true",
        help="also list the frames that are on every busy stack, such as the server's start-up",
    )
    arguments = parser.parse_args()
    try:
        lines = arguments.profile.read_text().splitlines()
    except OSError as error:
        raise SystemExit(
            f"{arguments.profile}: cannot read the profile ({error.strerror}); give a file that "
            "bench/run.py --profile wrote"
        ) from None
    busy, inclusive, own = summarize(lines)
    if busy == 0:
        raise SystemExit(f"{arguments.profile}: no busy samples; was the server under load?")

    print(f"{arguments.profile}: {busy:,} busy samples")
    print()
    print("| frame | inclusive | own |")
    print("|---|---|---|")
    listed = 0
    for frame, count in inclusive.most_common():
        if arguments.match and not any(text in frame for text in arguments.match):
            continue
        if count == busy and not arguments.roots:
            continue  # on every stack, so it shows nothing about where the time goes
        print(f"| `{frame}` | {100 * count / busy:.1f}% | {100 * own[frame] / busy:.1f}% |")
        listed += 1
        if listed == arguments.top:
            break


if __name__ == "__main__":
    main()
