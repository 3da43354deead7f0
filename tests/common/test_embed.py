"""The MiniLM encoder: the ONNX Runtime path gives PyTorch's embeddings, exported once per cache."""

from pathlib import Path

import numpy as np
import pytest

from tellwell.common.embed import Encoder, HashEncoder

HEADLINES = [
    "Malaysia Airlines flight MH370 search widens to Indian Ocean",
    "Satellite images show possible debris from missing Malaysian jet",
    "Fed's Yellen says rates to stay low for a considerable time",
    "Apple to unveil new iPhone in September, sources say",
    "",
    # Longer than max_seq_length word pieces: truncated, and batched beside two-token texts.
    "Search for missing jet. " + " ".join(["Investigators widened the search area again on Sunday"] * 30),
]


@pytest.fixture(scope="module")
def torch_vectors() -> np.ndarray:
    return Encoder(backend="torch").encode(HEADLINES)


class TestOnnxBackend:
    def test_same_embeddings_as_pytorch(self, tmp_path: Path, torch_vectors: np.ndarray) -> None:
        onnx = Encoder(cache_dir=tmp_path).encode(HEADLINES)
        assert onnx.shape == (len(HEADLINES), 384)
        cosines = (onnx * torch_vectors).sum(axis=1)
        assert cosines.min() > 0.9999
        assert np.allclose(np.linalg.norm(onnx, axis=1), 1.0, atol=1e-5)

    def test_exported_once_and_reused(self, tmp_path: Path) -> None:
        Encoder(cache_dir=tmp_path).load()
        (exported,) = tmp_path.glob("*.onnx")
        stamp = exported.stat().st_mtime_ns
        Encoder(cache_dir=tmp_path).encode(HEADLINES[:2])
        assert [p.name for p in tmp_path.iterdir()] == [exported.name]  # no second export, no temp left
        assert exported.stat().st_mtime_ns == stamp

    def test_batches_do_not_change_results(self, tmp_path: Path) -> None:
        encoder = Encoder(cache_dir=tmp_path, batch_size=2)
        whole = encoder.encode(HEADLINES)
        one_by_one = np.vstack([encoder.encode([h]) for h in HEADLINES])
        assert np.allclose(whole, one_by_one, atol=1e-5)


def test_hash_encoder_relates_texts_that_share_words() -> None:
    texts = ["search for missing plane widens", "missing plane search enters week two", "Fed holds rates"]
    vectors = HashEncoder(dim=256).encode(texts)
    assert vectors[0] @ vectors[1] > 0.3 > abs(vectors[0] @ vectors[2])
