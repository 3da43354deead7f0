"""The hand-built BERT graph against a plain numpy BERT, on a tiny random model."""

import math

import numpy as np
import onnxruntime as ort
import pytest

from tellwell.common.onnx_graph import bert_graph

erf = np.vectorize(math.erf)

CONFIG = {
    "model_type": "bert",
    "hidden_act": "gelu",
    "position_embedding_type": "absolute",
    "hidden_size": 8,
    "num_attention_heads": 2,
    "num_hidden_layers": 2,
    "intermediate_size": 16,
    "layer_norm_eps": 1e-12,
    "vocab_size": 30,
    "max_position_embeddings": 16,
    "type_vocab_size": 2,
}


def random_weights(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    h, inner = CONFIG["hidden_size"], CONFIG["intermediate_size"]

    def r(*shape: int) -> np.ndarray:
        return rng.normal(0, 0.5, shape).astype(np.float32)

    w = {
        "embeddings.word_embeddings.weight": r(CONFIG["vocab_size"], h),
        "embeddings.position_embeddings.weight": r(CONFIG["max_position_embeddings"], h),
        "embeddings.token_type_embeddings.weight": r(2, h),
        "embeddings.LayerNorm.weight": 1 + r(h),
        "embeddings.LayerNorm.bias": r(h),
        "pooler.dense.weight": r(h, h),  # present in the checkpoint, unused by the encoder
        "pooler.dense.bias": r(h),
    }
    for i in range(CONFIG["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        for name in ("attention.self.query", "attention.self.key", "attention.self.value"):
            w[p + name + ".weight"], w[p + name + ".bias"] = r(h, h), r(h)
        w[p + "attention.output.dense.weight"], w[p + "attention.output.dense.bias"] = r(h, h), r(h)
        w[p + "intermediate.dense.weight"], w[p + "intermediate.dense.bias"] = r(inner, h), r(inner)
        w[p + "output.dense.weight"], w[p + "output.dense.bias"] = r(h, inner), r(h)
        for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
            w[p + ln + ".weight"], w[p + ln + ".bias"] = 1 + r(h), r(h)
    return w


def numpy_bert(w: dict[str, np.ndarray], ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> np.ndarray:
    """transformers' BertModel.forward, written out in float64 (eager attention)."""
    w64 = {k: v.astype(np.float64) for k, v in w.items()}
    heads, hidden = CONFIG["num_attention_heads"], CONFIG["hidden_size"]
    d = hidden // heads

    def ln(x: np.ndarray, name: str) -> np.ndarray:
        mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-12) * w64[name + ".weight"] + w64[name + ".bias"]

    def dense(x: np.ndarray, name: str) -> np.ndarray:
        return x @ w64[name + ".weight"].T + w64[name + ".bias"]

    batch, tokens = ids.shape
    x = w64["embeddings.word_embeddings.weight"][ids] + w64["embeddings.token_type_embeddings.weight"][types]
    x = ln(x + w64["embeddings.position_embeddings.weight"][:tokens], "embeddings.LayerNorm")
    bias = np.where(mask[:, None, None, :] > 0, 0.0, -1e30)
    for i in range(CONFIG["num_hidden_layers"]):
        p = f"encoder.layer.{i}."

        def split(t: np.ndarray) -> np.ndarray:
            return t.reshape(batch, tokens, heads, d).transpose(0, 2, 1, 3)

        q, k, v = (split(dense(x, p + "attention.self." + n)) for n in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d) + bias
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, tokens, hidden)
        x = ln(dense(context, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
        inner = dense(x, p + "intermediate.dense")
        gelu = 0.5 * inner * (1 + erf(inner / math.sqrt(2)))
        x = ln(dense(gelu, p + "output.dense") + x, p + "output.LayerNorm")
    return x


class TestBertGraph:
    @pytest.mark.parametrize(("batch", "tokens"), [(1, 1), (3, 5), (2, 16)])
    def test_matches_numpy_bert(self, batch: int, tokens: int) -> None:
        weights = random_weights()
        session = ort.InferenceSession(bert_graph(weights, CONFIG).SerializeToString())
        rng = np.random.default_rng(batch * 100 + tokens)
        ids = rng.integers(0, CONFIG["vocab_size"], (batch, tokens))
        lengths = np.maximum(1, rng.integers(0, tokens + 1, batch))
        lengths[0] = tokens
        mask = (np.arange(tokens) < lengths[:, None]).astype(np.int64)
        types = rng.integers(0, 2, (batch, tokens))
        (got,) = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
        expected = numpy_bert(weights, ids, mask, types)
        assert got.shape == (batch, tokens, CONFIG["hidden_size"])
        real = mask.astype(bool)  # padded positions are never pooled
        np.testing.assert_allclose(got[real], expected[real], atol=1e-4)

    def test_padding_does_not_change_real_tokens(self) -> None:
        session = ort.InferenceSession(bert_graph(random_weights(1), CONFIG).SerializeToString())
        ids = np.array([[5, 6, 7]])
        (alone,) = session.run(
            None, {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": ids * 0}
        )
        padded = np.array([[5, 6, 7, 0, 0]])
        mask = np.array([[1, 1, 1, 0, 0]])
        (beside,) = session.run(
            None, {"input_ids": padded, "attention_mask": mask, "token_type_ids": padded * 0}
        )
        np.testing.assert_allclose(beside[:, :3], alone, atol=1e-6)

    @pytest.mark.parametrize(
        "change",
        [{"model_type": "roberta"}, {"hidden_act": "gelu_new"}, {"position_embedding_type": "relative_key"}],
    )
    def test_refuses_what_it_does_not_implement(self, change: dict[str, str]) -> None:
        with pytest.raises(ValueError, match=r"not a BERT model|only exact GELU"):
            bert_graph(random_weights(), {**CONFIG, **change})
