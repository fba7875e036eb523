"""Build a small ONNX graph, check it, and run it with onnxruntime on the image's numpy."""

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
w = helper.make_tensor("w", TensorProto.FLOAT, [3], [1.0, 2.0, 3.0])
graph = helper.make_graph([helper.make_node("Mul", ["x", "w"], ["y"])], "g", [x], [y], [w])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
model.ir_version = 7
onnx.checker.check_model(model)
session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
out = session.run(None, {"x": np.ones((2, 3), dtype=np.float32)})[0]
assert out.tolist() == [[1.0, 2.0, 3.0]] * 2, out
print("ok", onnx.__version__, ort.__version__)
