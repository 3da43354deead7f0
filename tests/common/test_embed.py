"""The MiniLM encoder: the ONNX Runtime path, built without PyTorch, gives sentence-transformers'
embeddings (stored below)."""

import subprocess
import sys
import textwrap

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

# The first 8 of 384 components of each headline's vector from sentence-transformers 6.2 on
# torch 2.13 (max_seq_length 128; the PyTorch path this encoder replaced), 2026-12-07. A wrong transpose,
# mask, activation or tokenisation moves every component far more than 1e-5.
SENTENCE_TRANSFORMERS_HEAD = np.array(
    [
        (0.060833, 0.040150, 0.043832, 0.018802, -0.004152, -0.048551, -0.090752, -0.039674),
        (-0.014566, 0.029986, 0.072482, 0.028995, 0.075906, -0.054794, -0.006371, -0.027352),
        (0.053337, -0.021693, -0.018057, 0.088829, 0.036475, -0.063127, -0.075303, 0.040747),
        (-0.014765, -0.065957, 0.080646, -0.026716, 0.019855, 0.019133, -0.090091, -0.075728),
        (-0.118838, 0.048299, -0.002548, -0.011011, 0.051951, 0.010292, 0.115433, 0.000701),
        (0.004258, -0.004832, 0.078660, 0.080378, 0.068249, 0.010050, -0.074429, -0.025522),
    ],
    dtype=np.float32,
)


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    """One ONNX encoder for the session: the graph is built once (about 1 s)."""
    built = Encoder()
    built.load()
    return built


@pytest.fixture(scope="session")
def vectors(encoder: Encoder) -> np.ndarray:
    return encoder.encode(HEADLINES)


class TestOnnxBackend:
    def test_same_embeddings_as_sentence_transformers(self, vectors: np.ndarray) -> None:
        assert vectors.shape == (len(HEADLINES), 384)
        assert vectors.dtype == np.float32
        np.testing.assert_allclose(vectors[:, :8], SENTENCE_TRANSFORMERS_HEAD, atol=1e-5)
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)

    def test_related_headlines_are_closer(self, vectors: np.ndarray) -> None:
        mh370, debris, fed = vectors[0], vectors[1], vectors[2]
        assert mh370 @ debris > 0.3 > abs(mh370 @ fed)

    def test_truncates_to_max_seq_length(self, encoder: Encoder) -> None:
        tokenizer, pad = encoder._tokenizer
        long, empty = tokenizer.encode_batch([HEADLINES[-1], ""])
        assert len(long.ids) == encoder.max_seq_length
        assert (long.ids[0], long.ids[-1]) == (101, 102)  # [CLS] ... [SEP] kept when truncating
        assert empty.ids == [101, 102]
        assert pad == 0

    def test_batches_do_not_change_results(self, vectors: np.ndarray) -> None:
        encoder = Encoder(batch_size=2)
        assert np.allclose(encoder.encode(HEADLINES), vectors, atol=1e-5)
        one_by_one = np.vstack([encoder.encode([h]) for h in HEADLINES])
        assert np.allclose(one_by_one, vectors, atol=1e-5)

    def test_empty_input(self, encoder: Encoder) -> None:
        assert encoder.encode([]).shape == (0, 384)

    def test_needs_no_torch(self) -> None:
        script = textwrap.dedent(
            """
            import sys
            for name in ("torch", "transformers", "sentence_transformers"):
                sys.modules[name] = None  # importing any of them now fails
            from tellwell.common.embed import Encoder
            print(Encoder(max_seq_length=20).encode(["Fed holds rates"]).shape)
            """
        )
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "(1, 384)"


def test_hash_encoder_relates_texts_that_share_words() -> None:
    texts = ["search for missing plane widens", "missing plane search enters week two", "Fed holds rates"]
    vectors = HashEncoder(dim=256).encode(texts)
    assert vectors[0] @ vectors[1] > 0.3 > abs(vectors[0] @ vectors[2])
