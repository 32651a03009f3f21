"""03 - Training a small CNN on handwritten digits (the UCI 8x8 digits, shipped in pyrch).

    python tutorials/03_nn_training.py

The usual PyTorch loop: a Dataset and DataLoader, an nn.Module, a loss, an
optimizer. pyrch.utils.summary shows the layers; pyrch.utils.progress shows a
progress bar with live metrics (just a summary line when output is not a
terminal).
"""
import os

import pyrch as torch
import pyrch.nn as nn
import pyrch.nn.functional as F
from pyrch.utils import progress, summary
from pyrch.datasets import load_digits
from pyrch.utils.data import DataLoader, TensorDataset

FAST = os.environ.get("PYRCH_TUTORIAL_FAST") == "1"
torch.manual_seed(0)

# -- data: 1797 images of 8x8 pixels, values 0..16 ------------------------------------------
images, labels = load_digits()          # (N, 1, 8, 8) float32 in [0, 1], int64 labels
perm = torch.randperm(len(labels))
n_train = 1400 if not FAST else 600
train_idx, test_idx = perm[:n_train], perm[n_train:]
train = DataLoader(TensorDataset(images[train_idx], labels[train_idx]), batch_size=64, shuffle=True)
x_test, y_test = images[test_idx], labels[test_idx]


# -- model ---------------------------------------------------------------------------------
class DigitsCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2))   # 16x4x4
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(16 * 4 * 4, 64), nn.ReLU(),
                                        nn.Linear(64, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


model = DigitsCNN()
print(summary(model, (64, 1, 8, 8)))
opt = torch.optim.Adam(model.parameters(), lr=3e-3)


def accuracy(logits, y):
    return (logits.argmax(dim=1) == y).float().mean().item()


# -- train ---------------------------------------------------------------------------------
epochs = 2 if FAST else 6
for epoch in range(epochs):
    model.train()
    bar = progress(train, desc=f"epoch {epoch + 1}/{epochs}")
    for x, y in bar:
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        bar.set(loss=loss.item(), acc=accuracy(logits, y))

model.eval()
with torch.no_grad():
    test_acc = accuracy(model(x_test), y_test)
print(f"test accuracy: {test_acc:.3f}")
assert test_acc > (0.6 if FAST else 0.9), test_acc
