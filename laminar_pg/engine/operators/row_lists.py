"""Rows listed per key: doubly linked lists through slot numbers (HashJoin, TopN).

`row_key[r]` is the key slot row slot r is listed under (-1: none); `head[k]` the first
row of key k (-1: none), `count[k]` how many rows it lists; `next_` / `prev` link the
rows. A row joins at the head and leaves in O(1). These are the two primitives the
operators' kernels are written with (inlined into them by numba).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(nogil=True, cache=True, inline="always")
def link_row(r: int, k: int, row_key: np.ndarray, next_: np.ndarray, prev: np.ndarray,
             head: np.ndarray, count: np.ndarray) -> None:
    """List row r under key k (r is listed nowhere)."""
    row_key[r] = k
    prev[r] = -1
    first = head[k]
    next_[r] = first
    if first >= 0:
        prev[first] = r
    head[k] = r
    count[k] += 1


@numba.njit(nogil=True, cache=True, inline="always")
def unlink_row(r: int, row_key: np.ndarray, next_: np.ndarray, prev: np.ndarray,
               head: np.ndarray, count: np.ndarray) -> int:
    """Take row r out of its key's list; the key it left, or -1 if it was listed
    nowhere."""
    k = row_key[r]
    if k < 0:
        return -1
    p = prev[r]
    q = next_[r]
    if p >= 0:
        next_[p] = q
    else:
        head[k] = q
    if q >= 0:
        prev[q] = p
    row_key[r] = -1
    count[k] -= 1
    return int(k)
