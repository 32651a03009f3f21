"""07 - Saving and loading: state dicts, checkpoints, traced graphs. No pickle anywhere.

    python tutorials/07_save_load.py

`pyrch.save` / `pyrch.load` write the safetensors layout (a JSON header and
raw bytes), so opening a file never runs code, and a flat state dict opens
with the `safetensors` package too. `jit.save` / `jit.load` store a traced
graph as plain data that runs without the original Python source.
"""
import os
import shutil
import tempfile

import pyrch as torch
import pyrch.nn as nn
import pyrch.nn.functional as F
from pyrch import jit

torch.manual_seed(0)
tmp = tempfile.mkdtemp()


def make_model():
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


model = make_model()
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
for _ in range(5):
    opt.zero_grad()
    F.cross_entropy(model(x), y).backward()
    opt.step()

# -- 1. A model's weights: state_dict -> file -> load_state_dict ------------------------------
path = os.path.join(tmp, "model.safetensors")
torch.save(model.state_dict(), path)
print("saved:", sorted(model.state_dict()), f"({os.path.getsize(path)} bytes)")

restored = make_model()
restored.load_state_dict(torch.load(path))
model.eval()
restored.eval()
print("max difference after reload:", (model(x) - restored(x)).abs().max().item())

# -- 2. A full checkpoint: model + optimizer state + Python numbers ----------------------------
ckpt = os.path.join(tmp, "checkpoint.pt")
torch.save({"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 5}, ckpt)
state = torch.load(ckpt)
opt2 = torch.optim.Adam(restored.parameters(), lr=1e-2)
opt2.load_state_dict(state["optim"])
print("epoch:", state["epoch"], " optimizer step count:",
      int(opt2.state[opt2.param_groups[0]["params"][0]]["step"]))

# -- 3. Saving a traced graph -----------------------------------------------------------------
@jit.trace
def predict(inp):
    return model(inp).softmax(dim=-1)


for _ in range(2):
    predict(x)
gpath = os.path.join(tmp, "predict.pyrchjit")
jit.save(predict, gpath)
loaded = jit.load(gpath)            # runs without `predict`'s source or the model class
print("traced graph reloaded, max difference:", (loaded(x) - predict(x)).abs().max().item())
print(f"files in {tmp}:", sorted(os.listdir(tmp)))
shutil.rmtree(tmp)
