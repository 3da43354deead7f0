"""Sentence vectors for the redundancy rule: the project's MiniLM encoder behind a cache.

A story is summarised again at each new version and most of its sentences are the same, so each
text is embedded once and kept (least recently used evicted): a re-summary embeds only its new
sentences.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from tellwell.common.embed import TextEncoder

# Word pieces per sentence, as score embeds its sentences: a sentence's opening carries what it says.
MAX_SEQ_LENGTH = 64


def default_encoder(threads: int | None = None) -> TextEncoder:
    """all-MiniLM-L6-v2 (ONNX Runtime, bundled weights, offline), loaded on first use."""
    from tellwell.common.embed import Encoder

    return Encoder(max_seq_length=MAX_SEQ_LENGTH, threads=threads)


class SentenceVectors:
    """Vectors by text: ``vectors(texts)`` embeds the texts not cached, in one batch.

    Safe to call from several threads (the service summarises stories in worker threads): one
    batch is encoded at a time, as the encoder's tokenizer is not meant to be shared by concurrent
    calls, and ONNX Runtime spreads one batch over the cores anyway."""

    def __init__(self, encoder: TextEncoder, capacity: int = 50_000) -> None:
        self.encoder = encoder
        self.capacity = capacity
        self.encoded = 0  # texts embedded so far (cache misses)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def warm(self) -> None:
        """Load the model and run it once (seconds: the service does it at start, in a thread,
        rather than in its first story)."""
        with self._lock:
            self.encoder.encode(["warm up"])

    def __call__(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        wanted = list(dict.fromkeys(texts))
        with self._lock:
            missing = [t for t in wanted if t not in self._cache]
            if missing:
                for t, v in zip(missing, self.encoder.encode(missing), strict=True):
                    self._cache[t] = np.asarray(v, dtype=np.float32)
                self.encoded += len(missing)
            out = {}
            for t in wanted:
                self._cache.move_to_end(t)
                out[t] = self._cache[t]
            while len(self._cache) > self.capacity:
                self._cache.popitem(last=False)
        return out
