"""This process's memory: resident and peak sizes as Linux reports them, and giving freed heap back to the OS."""
from __future__ import annotations

import ctypes
import ctypes.util
import resource


def resident_memory_mb() -> float:
    """This process's resident set size in MB (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * resource.getpagesize() / 2**20


def trim_heap() -> None:
    """Hand freed heap pages back to the OS (glibc keeps them otherwise)."""
    name = ctypes.util.find_library("c")
    if name:
        libc = ctypes.CDLL(name)
        if hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)
