"""Rich/HTML views (Tensor, Module, Optimizer, Graph), utils.summary and utils.progress."""
import io

import pytest

import pyrch
from pyrch import nn, profiler
from pyrch._display import graph_rich, rich_to_text
from pyrch.utils import progress, summary


# -- Tensor ---------------------------------------------------------------------------------
def test_tensor_html_and_plain_repr_unchanged():
    x = pyrch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = x * 2
    before = repr(y)
    html = y._repr_html_()
    assert repr(y) == before and before.startswith("tensor([[2., 4.],")
    for s in ("[2, 2]", "float32", "cpu", "MulBackward0", "min", "max", "mean", "&lt;MulBackward0&gt;"):
        assert s in html
    assert "True (leaf)" in x._repr_html_()


def test_tensor_html_special_values():
    assert "non-finite" in pyrch.tensor([1.0, float("nan"), float("inf")])._repr_html_()
    b = pyrch.tensor([True, False, True])._repr_html_()
    assert "true</span> 2" in b and "bool" in b
    i = pyrch.arange(5)._repr_html_()
    assert "int64" in i and "max</span> 4" in i
    assert "[0, 3]" in pyrch.zeros(0, 3)._repr_html_()
    assert "[]" in pyrch.tensor(3.0)._repr_html_()


def test_views_dispatch_no_ops():
    t = pyrch.randn(3, 3, requires_grad=True)
    m = nn.Linear(3, 2)
    with profiler.profile() as p:
        t._repr_html_()
        m._repr_html_()
        rich_to_text(m.__rich__())
    assert len(p.events()) == 0


# -- Module ---------------------------------------------------------------------------------
class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU())
        self.head = nn.Linear(4, 4)
        self.head2 = self.head                 # shared: counted once

    def forward(self, x):
        h = self.features(x).mean(dim=(2, 3))
        return self.head2(self.head(h))


def test_module_html_tree_and_counts():
    m = _Net()
    m.head.bias.requires_grad_(False)
    html = m._repr_html_()
    n = sum(p.numel() for p in m.parameters())
    assert f"Total params: <b>{n}</b>" in html
    assert "Partial" in html and "Conv2d" in html and "features" in html
    assert "kernel_size=(3, 3)" in html
    assert repr(m).startswith("_Net(\n  (features): Sequential(")
    text = rich_to_text(m.__rich__())
    assert "features: Sequential" in text and "0: Conv2d" in text and "head: Linear" in text
    assert f"{n} params" in text.splitlines()[0]


def test_module_html_escapes():
    class Odd(nn.Module):
        def extra_repr(self):
            return "<script>x</script>"
    assert "<script>" not in Odd()._repr_html_()


# -- Optimizer ------------------------------------------------------------------------------
def test_optimizer_html_groups():
    m = _Net()
    opt = pyrch.optim.SGD([{"params": m.features.parameters()},
                           {"params": m.head.parameters(), "lr": 0.5}], lr=0.01, momentum=0.9)
    html = opt._repr_html_()
    assert "SGD" in html and "group 0" in html and "group 1" in html
    assert "<td>lr</td><td>0.01</td><td>0.5</td>" in html
    assert repr(opt).startswith("SGD (\nParameter Group 0")


# -- Graph ----------------------------------------------------------------------------------
def test_graph_views_mark_fused_groups():
    from pyrch import jit

    @jit.trace
    def f(a, b):
        return ((a * b).exp() + 1).sum() * a.mean()

    a, b = pyrch.randn(4, 5), pyrch.randn(4, 5)
    for _ in range(3):
        f(a, b)
    g = f.graph_for(a, b)
    html = g._repr_html_()
    n_fused = sum(1 for n in g.nodes if n.op == "fused")
    assert html.count("<tr class='fused'>") == n_fused >= 1
    assert "exp(" in html and "graph f" in html and "return (" in html
    text = rich_to_text(graph_rich(g), width=160)
    assert "fused[" in text and "sum" in text
    assert str(g).startswith("graph f(")


# -- summary --------------------------------------------------------------------------------
def test_summary_rows_totals_and_restores_model():
    m = _Net()
    m.train()
    s = summary(m, (2, 1, 6, 6))
    assert m.training and all(mod.training for mod in m.modules())
    assert not any(mod._forward_hooks or mod._forward_pre_hooks for mod in m.modules())
    types = [(r.name, r.type) for r in s.rows]
    assert types[:4] == [("", "_Net"), ("features", "Sequential"), ("features.0", "Conv2d"),
                         ("features.1", "ReLU")]
    conv = s.rows[2]
    assert conv.output_shape == [2, 4, 4, 4] and conv.params == 40 and conv.depth == 2
    assert conv.output_bytes == 2 * 4 * 4 * 4 * 4
    heads = [r for r in s.rows if r.type == "Linear"]
    assert len(heads) == 2 and heads[1].repeat and not heads[0].repeat
    assert s.total_params == sum(p.numel() for p in m.parameters()) == 40 + 20
    assert s.rows[0].output_shape == [2, 4]
    text = str(s)
    assert "Layer (type)" in text and "features.0 (Conv2d)" in text and "(20)" in text
    assert "Total params:" in text and "<table" not in text
    assert "<pre" in s._repr_html_()


def test_summary_multiple_inputs_dtypes_and_input_data():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 4)
            self.lin = nn.Linear(4, 2)

        def forward(self, idx, x):
            return self.lin(self.emb(idx) + x), idx

    s = summary(Two(), [(3, 5), (3, 5, 4)], dtypes=[pyrch.int64, pyrch.float32])
    assert s.rows[0].output_shape == [[3, 5, 2], [3, 5]]
    assert s.input_bytes == 3 * 5 * 8 + 3 * 5 * 4 * 4
    s2 = summary(nn.Linear(3, 1), input_data=pyrch.ones(7, 3))
    assert s2.rows[0].output_shape == [7, 1]
    m = nn.Linear(3, 1)
    m.weight.requires_grad_(False)
    s3 = summary(m, (1, 3))
    assert (s3.trainable_params, s3.non_trainable_params) == (1, 3)
    assert s3.rows[0].trainable == "Partial"
    with pytest.raises(ValueError, match="dtypes"):
        summary(Two(), [(3, 5), (3, 5, 4)], dtypes=[pyrch.int64])


# -- progress -------------------------------------------------------------------------------
def test_progress_plain_mode_summary_line():
    out = io.StringIO()
    data = [(pyrch.ones(8, 2), pyrch.zeros(8))] * 3
    bar = progress(data, desc="train", file=out)
    for x, y in bar:
        bar.set(loss=pyrch.tensor(0.125), acc=0.5)
    line = out.getvalue()
    assert line.count("\n") == 1
    assert line.startswith("train: 3/3 [") and "loss=0.1250" in line and "acc=0.5000" in line
    assert "samples/s" in line and bar.samples == 24


def test_progress_quiet_options_and_manual_update():
    out = io.StringIO()
    assert list(progress(range(3), file=out, leave=False)) == [0, 1, 2]
    assert list(progress(iter(range(2)), file=out, disable=True)) == [0, 1]
    assert out.getvalue() == ""
    with progress(total=10, desc="manual", file=out) as bar:
        bar.update(4, samples=40)
        bar.update(6)
    assert out.getvalue().startswith("manual: 10/10")
    assert len(progress(range(7), file=out, leave=False)) == 7


def test_progress_stdout_not_a_terminal_is_plain(capsys):
    for _ in progress(range(2), desc="quiet"):
        pass
    out = capsys.readouterr().out
    assert out.startswith("quiet: 2/2") and "\x1b" not in out


# -- doctests of the display/profiler modules (so `pytest -q` runs them too) -----------------
@pytest.mark.parametrize("modname", ["pyrch._display", "pyrch.utils.summary", "pyrch.utils.progress",
                                     "pyrch.profiler", "pyrch.profiler.events"])
def test_doctests(modname):
    import doctest
    import importlib
    mod = importlib.import_module(modname)
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0 and res.failed == 0
