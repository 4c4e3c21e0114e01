"""What this machine lends the process: the one fact lint's workers and training's data loaders size themselves by."""

from __future__ import annotations

import os


def usable_cpus() -> int:
    """The cores this process may run on (its affinity, where the system tells it), at least 1."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
