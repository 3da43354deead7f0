"""Text vectors kept across calls: summarize and score embed the same sentences again at each new
version of a story, so each text is encoded once and kept (least recently used evicted)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable

import numpy as np


class VectorCache:
    """Vectors by text: a call encodes the texts it has not seen, in one batch.

    Not locked: an owner shared by threads holds its own lock around calls.

    Example Snippet::

        vectors = VectorCache(encoder.encode, capacity=50_000)
        by_text = vectors(["A quake struck Chile.", "Chile was hit by a quake."])
    """

    def __init__(self, encode: Callable[[list[str]], Iterable[np.ndarray]], capacity: int) -> None:
        self.encode = encode
        self.capacity = capacity
        self.encoded = 0  # texts encoded so far (cache misses)
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()

    def __call__(self, texts: Iterable[str]) -> dict[str, np.ndarray]:
        wanted = list(dict.fromkeys(texts))
        missing = [t for t in wanted if t not in self._vectors]
        if missing:
            for t, v in zip(missing, self.encode(missing), strict=True):
                self._vectors[t] = v
            self.encoded += len(missing)
        out = {}
        for t in wanted:
            self._vectors.move_to_end(t)
            out[t] = self._vectors[t]
        while len(self._vectors) > self.capacity:
            self._vectors.popitem(last=False)
        return out
