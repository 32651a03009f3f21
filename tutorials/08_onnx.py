"""08 - ONNX: export a pyrch model, run it in ONNX Runtime, import it back.

    pip install 'pyrch[onnx]'        # onnx + onnxruntime
    python tutorials/08_onnx.py

`pyrch.onnx.export` has torch.onnx.export's signature. It traces one call of
the model with pyrch.jit (in eval mode, without grad) and writes each traced
op as standard ONNX ops; parameters become initializers. With `dynamic_axes`
the batch size stays free: sizes derived from it (reshape targets, zero
states) are computed in the graph, not baked in. `pyrch.onnx.load` turns
any supported ONNX file, also one written by torch.onnx.export, back into a
pyrch nn.Module.
"""
import os
import tempfile

import numpy as np
import onnx

import pyrch as torch
import pyrch.nn as nn
import pyrch.nn.functional as F
import pyrch.onnx

FAST = os.environ.get("PYRCH_TUTORIAL_FAST") == "1"
torch.manual_seed(0)


# -- 1. A small model --------------------------------------------------------------------------
class DigitsCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.drop = nn.Dropout(0.25)
        self.fc = nn.Linear(16 * 2 * 2, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.conv1(x))), 2)      # 8x4x4
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)                # 16x2x2
        return self.fc(self.drop(torch.flatten(x, 1)))


model = DigitsCNN()
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
x_train = torch.randn(64, 1, 8, 8)
y_train = torch.randint(0, 10, (64,))
for _ in range(5 if FAST else 30):                 # a few steps so BatchNorm has running stats
    opt.zero_grad()
    F.cross_entropy(model(x_train), y_train).backward()
    opt.step()

# -- 2. Export with a dynamic batch dimension ---------------------------------------------------
path = os.path.join(tempfile.mkdtemp(), "digits.onnx")
example = torch.randn(4, 1, 8, 8)
pyrch.onnx.export(model, (example,), path, input_names=["image"], output_names=["logits"],
                  dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})

proto = onnx.load(path)
onnx.checker.check_model(proto)
print("ONNX ops:", sorted({n.op_type for n in proto.graph.node}))
print("input:", proto.graph.input[0].name,
      [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim])

# -- 3. Run it in ONNX Runtime, with another batch size ---------------------------------------
model.eval()
batch = torch.randn(7, 1, 8, 8)
with torch.no_grad():
    want = model(batch).numpy()
try:
    import onnxruntime as ort
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = sess.run(None, {"image": batch.numpy()})[0]
    print("ONNX Runtime vs pyrch, max abs diff:", float(np.abs(got - want).max()))
    assert np.allclose(got, want, rtol=1e-4, atol=1e-5)
except ImportError:
    print("onnxruntime is not installed; skipping the ONNX Runtime check")

# -- 4. Import it back as a pyrch Module --------------------------------------------------------
back = pyrch.onnx.load(path)
print(back.input_names, "->", back.output_names, "|", sum(p.numel() for p in back.parameters()),
      "parameters")
with torch.no_grad():
    again = back(batch).numpy()
print("imported vs original, max abs diff:", float(np.abs(again - want).max()))
assert np.allclose(again, want, rtol=1e-4, atol=1e-5)
