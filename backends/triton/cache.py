"""Where the backend keeps what it may reuse: generated kernel folders and autotuning choices.

The user's cache directory, as platformdirs and the XDG spec name it: $XDG_CACHE_HOME/netspec, else
~/.cache/netspec (NETSPEC_CACHE_DIR overrides both, e.g. for a read-only home).
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    if os.environ.get("NETSPEC_CACHE_DIR"):
        return Path(os.environ["NETSPEC_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "netspec"
