"""A BERT encoder as an ONNX graph, written op by op from its safetensors weights (no PyTorch).

``bert_graph(weights, config)`` returns the graph that ``transformers.BertModel`` computes up to
``last_hidden_state``, the output sentence-transformers pools: embeddings (word + token type +
absolute position, LayerNorm), then per layer self-attention with the padding masked out, a
residual LayerNorm, the feed-forward block with exact (erf) GELU and a second residual LayerNorm.
The pooler head is left out, as sentence-transformers never reads it.

Inputs are ``input_ids``, ``attention_mask`` and ``token_type_ids`` (int64, ``[batch, tokens]``),
the output is ``last_hidden_state`` (float32, ``[batch, tokens, hidden]``): the interface of the
graph ``torch.onnx.export`` gave before, so the encoder feeds and pools it the same way. The
patterns are the ones that exporter writes (``Div``/``Erf``/``Mul`` GELU, ``LayerNormalization``
at opset 17), so ONNX Runtime's session optimiser fuses them alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8  # the IR of opset 17, readable by any ONNX Runtime since 1.13


class _Graph:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def const(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def op(self, op_type: str, *inputs: str, **attrs: Any) -> str:
        self._count += 1
        output = f"{op_type.lower()}_{self._count}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], **attrs))
        return output


def bert_graph(weights: Mapping[str, np.ndarray], config: Mapping[str, Any]) -> onnx.ModelProto:
    """The BERT encoder of ``config`` (a Hugging Face ``config.json``) with these weights.

    ``weights`` maps the Hugging Face names (``embeddings.word_embeddings.weight``,
    ``encoder.layer.0.attention.self.query.weight``, ...) to float32 arrays, as
    ``safetensors.numpy.load_file`` reads them.

    Example Snippet::

        weights = safetensors.numpy.load_file(model_dir / "model.safetensors")
        config = json.loads((model_dir / "config.json").read_text())
        session = onnxruntime.InferenceSession(bert_graph(weights, config).SerializeToString())
    """
    if config.get("model_type") != "bert":
        raise ValueError(f"not a BERT model: {config.get('model_type')!r}")
    if config.get("hidden_act") != "gelu" or config.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError("only exact GELU and absolute position embeddings are implemented")
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    head_dim = hidden // heads
    eps = float(config["layer_norm_eps"])
    w = {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in weights.items()}
    prefix = "bert." if "bert.embeddings.word_embeddings.weight" in w else ""

    g = _Graph()

    def param(name: str) -> str:
        return g.const(name, w[prefix + name])

    def linear(x: str, name: str) -> str:
        # Stored [out, in] as torch.nn.Linear keeps it; MatMul wants [in, out].
        weight = g.const(f"{name}.weight.T", np.ascontiguousarray(w[f"{prefix}{name}.weight"].T))
        return g.op("Add", g.op("MatMul", x, weight), param(f"{name}.bias"))

    def layer_norm(x: str, name: str) -> str:
        return g.op(
            "LayerNormalization", x, param(f"{name}.weight"), param(f"{name}.bias"), axis=-1, epsilon=eps
        )

    scalar: dict[str, np.ndarray] = {
        "zero": np.array(0, dtype=np.int64),
        "one": np.array(1, dtype=np.int64),
        "one_f": np.array(1.0, dtype=np.float32),
        "half": np.array(0.5, dtype=np.float32),
        "sqrt2": np.array(math.sqrt(2.0), dtype=np.float32),
        "sqrt_head_dim": np.array(math.sqrt(head_dim), dtype=np.float32),
        "mask_min": np.array(np.finfo(np.float32).min, dtype=np.float32),
        "axes_1_2": np.array([1, 2], dtype=np.int64),
        "split_heads": np.array([0, 0, heads, head_dim], dtype=np.int64),
        "merge_heads": np.array([0, 0, hidden], dtype=np.int64),
    }
    for name, array in scalar.items():
        g.const(name, array)

    # Embeddings: word + token type, then + position (BertEmbeddings' order), LayerNorm.
    tokens = g.op("Gather", g.op("Shape", "input_ids"), "one", axis=0)
    positions = g.op("Range", "zero", tokens, "one")
    x = g.op(
        "Add",
        g.op(
            "Add",
            g.op("Gather", param("embeddings.word_embeddings.weight"), "input_ids"),
            g.op("Gather", param("embeddings.token_type_embeddings.weight"), "token_type_ids"),
        ),
        g.op("Gather", param("embeddings.position_embeddings.weight"), positions),
    )
    x = layer_norm(x, "embeddings.LayerNorm")

    # Padding gets the lowest float added to its scores: exp() makes its weight exactly 0.
    keep = g.op("Cast", "attention_mask", to=TensorProto.FLOAT)
    mask_bias = g.op("Unsqueeze", g.op("Mul", g.op("Sub", "one_f", keep), "mask_min"), "axes_1_2")

    for i in range(int(config["num_hidden_layers"])):
        layer = f"encoder.layer.{i}"

        def heads_of(projection: str, perm: list[int]) -> str:
            return g.op("Transpose", g.op("Reshape", projection, "split_heads"), perm=perm)

        query = heads_of(linear(x, f"{layer}.attention.self.query"), [0, 2, 1, 3])
        key = heads_of(linear(x, f"{layer}.attention.self.key"), [0, 2, 3, 1])
        value = heads_of(linear(x, f"{layer}.attention.self.value"), [0, 2, 1, 3])
        scores = g.op("Add", g.op("Div", g.op("MatMul", query, key), "sqrt_head_dim"), mask_bias)
        context = g.op("MatMul", g.op("Softmax", scores, axis=-1), value)
        context = g.op("Reshape", g.op("Transpose", context, perm=[0, 2, 1, 3]), "merge_heads")
        attended = linear(context, f"{layer}.attention.output.dense")
        x = layer_norm(g.op("Add", attended, x), f"{layer}.attention.output.LayerNorm")

        inner = linear(x, f"{layer}.intermediate.dense")
        erf = g.op("Erf", g.op("Div", inner, "sqrt2"))
        gelu = g.op("Mul", g.op("Mul", inner, g.op("Add", erf, "one_f")), "half")
        out = linear(gelu, f"{layer}.output.dense")
        x = layer_norm(g.op("Add", out, x), f"{layer}.output.LayerNorm")

    g.nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"]))
    axes = ["batch", "tokens"]
    graph = helper.make_graph(
        g.nodes,
        "bert_encoder",
        [helper.make_tensor_value_info(n, TensorProto.INT64, axes) for n in _INPUTS],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, [*axes, hidden])],
        g.initializers,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="tellwell.common.onnx_graph"
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)  # below 2 GB, so the in-memory proto can be checked whole
    return model


_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
