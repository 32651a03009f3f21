"""Small deterministic reproducers of traced-vs-eager mismatches found by
tests/test_jit_random_programs.py (each names the bug it pins)."""
import numpy as np
import pytest

import pyrch
from pyrch import jit

F = pyrch.nn.functional


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", [None, "relu"])
def test_fused_linear_output_does_not_overwrite_its_own_input(dtype, act):
    """matmul -> matmul + bias under no_grad: the plan handed the add's buffer to the
    second matmul's input (its last reader was that matmul), and the fused GEMM with a
    bias epilogue then wrote its output over the operand it was still reading (garbage
    of ~1e19 in float32 from the first replay on)."""
    rng = np.random.default_rng(0)
    w1 = pyrch.tensor(rng.standard_normal((256, 8)).astype(dtype))
    w2 = pyrch.tensor(rng.standard_normal((256, 256)).astype(dtype))
    b2 = pyrch.tensor(rng.standard_normal(256).astype(dtype))
    w3 = pyrch.tensor(rng.standard_normal((5, 256)).astype(dtype))

    def fn(x):
        h = F.linear(F.linear(x, w1), w2, b2)      # 16 x 256 x 256: the C GEMM path
        return F.linear(h.relu() if act else h, w3)
    f = jit.trace(fn)
    with pyrch.no_grad():
        for _ in range(4):
            x = pyrch.tensor(rng.standard_normal((16, 8)).astype(dtype))
            got, want = f(x).numpy(), fn(x).numpy()
            if dtype == np.float64:                 # bitwise eager's in float64
                np.testing.assert_array_equal(got, want)
            else:   # float32: the plan's small products may sum in another order
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)  # outputs ~500
    assert f.stats.hits == 2


def test_transposed_matmul_float64_stays_bitwise():
    """(A @ B).T was rewritten to B.T @ A.T in every dtype; BLAS rounds the two
    products differently once k is large (300: ~1e-13 apart), so a float64 replay was
    no longer bitwise equal to eager. The rewrite is now float32-only."""
    rng = np.random.default_rng(0)
    w = pyrch.tensor(rng.standard_normal((300, 300)))

    def fn(x):
        e = x @ w
        return (e.t() * 3 + e).tanh()
    f = jit.trace(fn)
    for _ in range(4):
        x = pyrch.tensor(rng.standard_normal((300, 300)))
        np.testing.assert_array_equal(f(x).numpy(), fn(x).numpy())
    assert f.stats.hits == 2



def test_gelu_backward_float64_stays_bitwise():
    """The traced gelu_backward (spelled out so it fuses with the forward) multiplied by
    the literal 0.7071067811865476 where the op uses 1 / sqrt(2) = 0.7071067811865475:
    float64 gradients through gelu were an ulp off eager."""
    rng = np.random.default_rng(0)

    def fn(x):
        h = F.gelu(x)
        return pyrch.autograd.grad((h * h).sum(), x)[0]
    f = jit.trace(fn)
    for _ in range(4):
        x = pyrch.tensor(rng.standard_normal((3, 5)), requires_grad=True)
        np.testing.assert_array_equal(f(x).numpy(), fn(x).numpy())
    assert f.stats.hits == 2


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_weight_read_through_a_view_after_its_update_sees_the_old_value(dtype):
    """An optimizer update written in place into the weight's buffer while a later step
    still read the weight through a view (a reshape feeding a stack scheduled after the
    update): the replay's forward value used the updated weight (2% off in float32)."""
    rng = np.random.default_rng(0)
    w = pyrch.tensor(rng.standard_normal(2500).astype(dtype), requires_grad=True)
    opt = pyrch.optim.AdamW([w], lr=0.25, weight_decay=0.05)

    def step(x):
        opt.zero_grad()
        e = x.tanh().exp()
        # exp(tanh(w)) fuses into the update's group (both read w); the stack of w then
        # runs after that group
        extra = pyrch.stack([w, w.tanh().exp()], 0).exp().mean()
        loss = (e * e).mean() + (w * w).sum() * 0.01
        loss.backward()
        opt.step()
        return loss, extra
    f = jit.trace(step)
    for i in range(4):
        x = pyrch.tensor(rng.standard_normal(2500).astype(dtype))
        before = w.detach().numpy().copy()
        _, extra = f(x)
        want = np.exp(np.stack([before, np.exp(np.tanh(before))])).mean()
        np.testing.assert_allclose(float(extra), want, rtol=1e-5 if dtype == np.float32 else 1e-12)
