"""Sentence vectors for the redundancy rule: the project's MiniLM encoder behind a cache.

A story is summarised again at each new version and most of its sentences are the same, so each
text is embedded once and kept (least recently used evicted): a re-summary embeds only its new
sentences.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from tellwell.common.embed import TextEncoder
from tellwell.common.vector_cache import VectorCache

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
        self._cache = VectorCache(self._encode, capacity)
        self._lock = threading.Lock()

    @property
    def encoded(self) -> int:
        """Texts embedded so far (cache misses)."""
        return self._cache.encoded

    def _encode(self, texts: list[str]) -> list[np.ndarray]:
        return [np.asarray(v, dtype=np.float32) for v in self.encoder.encode(texts)]

    def warm(self) -> None:
        """Load the model and run it once (seconds: the service does it at start, in a thread,
        rather than in its first story)."""
        with self._lock:
            self.encoder.encode(["warm up"])

    def __call__(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        with self._lock:
            return self._cache(texts)
