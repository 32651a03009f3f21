"""Graph passes: golden before/after text for each, idempotence, verify after each,
and the IR's verify() itself. Graphs are built by hand so each test shows one rule."""
import numpy as np
import pytest

import pyrch
from pyrch.jit import passes
from pyrch.jit.ir import Graph, Guard, Node, Value, VerifyError, Write, verify
from pyrch.jit.plan import lower, plan_buffers
from pyrch.jit.executor import Executor

f32, f64, i64, b8 = pyrch.float32, pyrch.float64, pyrch.int64, pyrch.bool


def V(*shape, dt=f32, name=None):
    return Value(shape, dt, name)


def N(op, ins, outs, **attrs):
    return Node(op, ins, attrs, outs if isinstance(outs, tuple) else (outs,))


def G(nodes, outputs, inputs=(), params=(), rng=(), constants=None, writes=(), guards=()):
    return Graph("f", inputs, params, rng, constants, nodes, outputs, writes, guards)


def text(g):
    return str(g).strip()


def golden(s):
    return "\n".join(line.rstrip() for line in s.strip("\n").splitlines())


def check_pass(p, g, expected):
    verify(g)
    out = p(g)
    verify(out)
    assert text(out) == golden(expected)
    assert text(p(out)) == text(out), f"{p.__name__} is not idempotent"
    return out


X, Y = V(2, 3, name="x"), V(2, 3, name="y")


# -- dce -----------------------------------------------------------------------------------
def test_dce_drops_unused_nodes_and_constants_but_keeps_random_and_writes():
    a, b, c, r, k = V(2, 3), V(2, 3), V(2, 3), V(2, 3), V(3)
    w = V(2, 3, name="w")
    rng = Value((), pyrch.uint8, "rng")
    g = G([N("exp", (X,), a), N("neg", (X,), b), N("randn", (rng,), r, shape=(2, 3), dtype=f32),
           N("add", (a, X), c)], (a,), inputs=(X,), params=(w,), rng=(rng,),
          constants={k: np.zeros(3, np.float32)}, writes=(Write("assign", w, c),))
    check_pass(passes.dce, g, """
graph f(%x: f32[2,3]) params(%w: f32[2,3]) rng(%rng) {
  %0: f32[2,3] = exp(%x)
  %1: f32[2,3] = randn(%rng, dtype=float32, shape=(2, 3))
  %2: f32[2,3] = add(%0, %x)
  assign(%w, %2)
  return (%0)
}""")


# -- cse -----------------------------------------------------------------------------------
def test_cse_merges_equal_nodes_but_not_random_ones_or_different_literal_types():
    a, b, c, d, e, r1, r2 = (V(2, 3) for _ in range(7))
    rng = Value((), pyrch.uint8, "rng")
    g = G([N("mul", (X, Y), a), N("mul", (X, Y), b), N("add", (a, b), c),
           N("mul", (X, 2), d), N("mul", (X, 2.0), e),
           N("rand", (rng,), r1, shape=(2, 3), dtype=f32), N("rand", (rng,), r2, shape=(2, 3), dtype=f32)],
          (c, d, e, r1, r2), inputs=(X, Y), rng=(rng,))
    check_pass(passes.cse, g, """
graph f(%x: f32[2,3], %y: f32[2,3]) rng(%rng) {
  %0: f32[2,3] = mul(%x, %y)
  %1: f32[2,3] = add(%0, %0)
  %2: f32[2,3] = mul(%x, 2)
  %3: f32[2,3] = mul(%x, 2.0)
  %4: f32[2,3] = rand(%rng, dtype=float32, shape=(2, 3))
  %5: f32[2,3] = rand(%rng, dtype=float32, shape=(2, 3))
  return (%1, %2, %3, %4, %5)
}""")


# -- fold_constants --------------------------------------------------------------------------
def test_fold_constants_folds_small_results_only():
    c0, c1, big = V(3), V(3), V(16384)          # 64 KiB: passes.FOLD_LIMIT
    s, t, u, x3 = V(3), V(16384), V(3), V(3, name="x")
    g = G([N("add", (c0, c1), s), N("exp", (big,), t), N("mul", (s, x3), u)], (u, t),
          inputs=(x3,),
          constants={c0: np.ones(3, np.float32), c1: np.full(3, 2, np.float32),
                     big: np.zeros(16384, np.float32)})
    out = check_pass(passes.fold_constants, g, """
graph f(%x: f32[3]) {
  %c0: f32[3] = const [1., 1., 1.]
  %c1: f32[3] = const [2., 2., 2.]
  %c2: f32[16384] = const <65536 bytes>
  %c3: f32[3] = const [3., 3., 3.]
  %0: f32[16384] = exp(%c2)
  %1: f32[3] = mul(%c3, %x)
  return (%1, %0)
}""")
    assert text(passes.dce(out)).count("const") == 2     # the inputs of the folded add are dead


# -- simplify: one test per row of the table -------------------------------------------------
def _one(op, ins, out, **attrs):
    return G([N(op, ins, out, **attrs)], (out,), inputs=(X,))


SIMPLIFY_ROWS = {
    "x*1": (lambda o: _one("mul", (X, 1.0), o), "return (%x)"),
    "1*x": (lambda o: _one("mul", (1, X), o), "return (%x)"),
    "x+0": (lambda o: _one("add", (X, 0.0), o), "return (%x)"),
    "0+x": (lambda o: _one("add", (0, X), o), "return (%x)"),
    "x-0": (lambda o: _one("sub", (X, 0), o), "return (%x)"),
    "x/1": (lambda o: _one("div", (X, 1.0), o), "return (%x)"),
    "detach": (lambda o: _one("detach", (X,), o), "return (%x)"),
    "clone": (lambda o: _one("clone", (X,), o), "return (%x)"),
    "cast to own dtype": (lambda o: _one("to_dtype", (X,), o, dtype=f32), "return (%x)"),
    "reshape to own shape": (lambda o: _one("reshape", (X,), o, shape=(2, 3)), "return (%x)"),
    "expand to own shape": (lambda o: _one("expand", (X,), o, shape=(2, 3)), "return (%x)"),
    "identity permute": (lambda o: _one("permute", (X,), o, dims=(0, 1)), "return (%x)"),
    "x**1": (lambda o: _one("pow", (X, 1.0), o), "return (%x)"),
    "x**2": (lambda o: _one("pow", (X, 2.0), o), "%0: f32[2,3] = mul(%x, %x)"),
}


@pytest.mark.parametrize("row", list(SIMPLIFY_ROWS))
def test_simplify_row(row):
    build, expect = SIMPLIFY_ROWS[row]
    out = passes.simplify(build(V(2, 3)))
    verify(out)
    assert expect in text(out), text(out)
    assert "= " + build(V(2, 3)).nodes[0].op + "(" not in text(out)
    assert text(passes.simplify(out)) == text(out)


def test_simplify_cube_becomes_two_multiplies():
    o = V(2, 3)
    check_pass(passes.simplify, _one("pow", (X, 3.0), o), """
graph f(%x: f32[2,3]) {
  %0: f32[2,3] = mul(%x, %x)
  %1: f32[2,3] = mul(%0, %x)
  return (%1)
}""")


def test_simplify_double_negation_and_reshape_of_reshape():
    a, b, c, d = V(2, 3), V(2, 3), V(6), V(3, 2)
    g = G([N("neg", (X,), a), N("neg", (a,), b), N("reshape", (b,), c, shape=(6,)),
           N("reshape", (c,), d, shape=(3, 2))], (d,), inputs=(X,))
    out = check_pass(passes.simplify, g, """
graph f(%x: f32[2,3]) {
  %0: f32[2,3] = neg(%x)
  %1: f32[6] = reshape(%x, shape=(6,))
  %2: f32[3,2] = reshape(%x, shape=(3, 2))
  return (%2)
}""")
    assert text(passes.dce(out)).count(" = ") == 1


def test_simplify_keeps_identities_that_change_type_or_shape():
    xi = V(2, 3, dt=i64, name="x")                        # int * 1.5 -> float: not x
    g = G([N("mul", (xi, 1.0), V(2, 3))], (), inputs=(xi,))
    g = g.replace(outputs=(g.nodes[0].outputs[0],))
    assert "mul" in text(passes.simplify(g))
    row, c = V(1, 3, name="x"), V(3, 3)                   # broadcasting add of zeros: not x
    zeros = V(3, 3)
    g2 = G([N("add", (row, zeros), c)], (c,), inputs=(row,),
           constants={zeros: np.zeros((3, 3), np.float32)})
    assert "add" in text(passes.simplify(g2))


# -- fusion ----------------------------------------------------------------------------------
def test_fuse_chain_with_extra_output_for_a_value_used_outside():
    a, b, c, s = V(2, 3), V(2, 3), V(2, 3), V(3)
    g = G([N("mul", (X, Y), a), N("exp", (a,), b), N("add", (b, 1.0), c),
           N("sum", (a,), s, dim=0, keepdim=False)], (c, s), inputs=(X, Y))
    check_pass(passes.fuse_elementwise, g, """
graph f(%x: f32[2,3], %y: f32[2,3]) {
  %0: f32[2,3], %1: f32[2,3] = fused(%x, %y) { t0 = x0 * x1; t1 = exp(t0); t2 = t1 + 1.0 -> t0, t2 }
  %2: f32[3] = sum(%0, dim=0, keepdim=False)
  return (%1, %2)
}""")


def test_fuse_a_node_of_sources_only_continues_the_group_before_it():
    """Consecutive statements of an optimizer update: the second moment's `v * beta2`
    reads only sources, so no group feeds it; it continues the group of the statement
    before it (the first moment's, fed by this parameter's gradient) rather than start
    its own or join the sibling group of the previous parameter, which reads beta2 too.
    One loop per parameter, no intermediate written."""
    m0, v0, m1, v1 = (V(4, name=n) for n in ("m0", "v0", "m1", "v1"))
    w0, w1 = V(2, 4, name="w0"), V(2, 4, name="w1")
    beta = V(name="beta")
    g0, a0, b0, c0, g1, a1, b1, c1 = (V(4) for _ in range(8))
    nodes = [N("sum", (w0,), g0, dim=0, keepdim=False),
             N("sub", (g0, m0), a0), N("mul", (v0, beta), b0), N("add", (b0, a0), c0),
             N("sum", (w1,), g1, dim=0, keepdim=False),
             N("sub", (g1, m1), a1), N("mul", (v1, beta), b1), N("add", (b1, a1), c1)]
    g = G(nodes, (c0, c1), inputs=(w0, m0, v0, w1, m1, v1, beta))
    check_pass(passes.fuse_elementwise, g, """
graph f(%w0: f32[2,4], %m0: f32[4], %v0: f32[4], %w1: f32[2,4], %m1: f32[4], %v1: f32[4], %beta: f32[]) {
  %0: f32[4] = sum(%w0, dim=0, keepdim=False)
  %1: f32[4] = fused(%0, %m0, %v0, %beta) { t0 = x0 - x1; t1 = x2 * x3; t2 = t1 + t0 -> t2 }
  %2: f32[4] = sum(%w1, dim=0, keepdim=False)
  %3: f32[4] = fused(%2, %m1, %v1, %beta) { t0 = x0 - x1; t1 = x2 * x3; t2 = t1 + t0 -> t2 }
  return (%1, %3)
}""")


def test_fuse_respects_convexity():
    # a -> sum (not fusable) -> expand -> add(a, .): fusing a with the add would need
    # the sum in between to run inside the group
    a, s, e, c = V(2, 3), V(1, 3), V(2, 3), V(2, 3)
    g = G([N("exp", (X,), a), N("sum", (a,), s, dim=0, keepdim=True),
           N("mul", (s, 2.0), sm := V(1, 3)), N("add", (a, sm), c)], (c,), inputs=(X,))
    out = passes.fuse_elementwise(g)
    verify(out)
    assert "fused" not in text(out)


def test_fuse_requires_one_output_shape_but_lets_inputs_broadcast():
    row = V(3, name="b")
    a, b, c = V(2, 3), V(2, 3), V(3)
    g = G([N("add", (X, row), a), N("exp", (a,), b), N("neg", (row,), c)], (b, c), inputs=(X, row))
    check_pass(passes.fuse_elementwise, g, """
graph f(%x: f32[2,3], %b: f32[3]) {
  %0: f32[2,3] = fused(%x, %b) { t0 = x0 + x1; t1 = exp(t0) -> t1 }
  %1: f32[3] = neg(%b)
  return (%0, %1)
}""")


def test_fuse_limits_operands_to_32():
    xs = [V(4, name=f"x{i}") for i in range(40)]
    acc, nodes = xs[0], []
    for x in xs[1:]:
        o = V(4)
        nodes.append(N("add", (acc, x), o))
        acc = o
    g = G(nodes, (acc,), inputs=tuple(xs))
    out = passes.fuse_elementwise(g)
    verify(out)
    fused = [n for n in out.nodes if n.op == "fused"]
    assert len(fused) == 2 and all(len(n.inputs) <= 32 for n in fused)
    vals = [np.full(4, float(i), np.float32) for i in range(40)]
    assert run(out, vals)[0].tolist() == run(g, vals)[0].tolist()


def test_fuse_skips_random_and_ops_without_cexpr():
    rng = Value((), pyrch.uint8, "rng")
    r, a, b = V(2, 3), V(2, 3), V(2, 3)
    g = G([N("rand", (rng,), r, shape=(2, 3), dtype=f32), N("mul", (r, X), a),
           N("to_dtype", (a,), b64 := V(2, 3, dt=f64), dtype=f64)], (b64,), inputs=(X,), rng=(rng,))
    assert "fused" not in text(passes.fuse_elementwise(g))


# -- plan_buffers and lower --------------------------------------------------------------------
def test_plan_buffers_reuses_dead_intermediates_and_never_outputs():
    a, b, c, d = V(2, 3), V(2, 3), V(2, 3), V(2, 3)
    g = G([N("exp", (X,), a), N("neg", (a,), b), N("exp", (b,), c), N("neg", (c,), d)], (d,),
          inputs=(X,))
    out = plan_buffers(g)
    buf = out.buffers
    assert buf[a] == buf[c] and buf[b] != buf[a] and d not in buf
    assert buf["__table__"] == (((2, 3), "float32"), ((2, 3), "float32"))
    assert text(plan_buffers(out)) == text(out)


def test_plan_buffers_keeps_a_buffer_alive_while_a_view_of_it_is_used():
    a, v, b, c = V(2, 3), V(3, 2), V(2, 3), V(3, 2)
    g = G([N("exp", (X,), a), N("reshape", (a,), v, shape=(3, 2)), N("neg", (X,), b),
           N("neg", (v,), c)], (c, b), inputs=(X,))
    buf = plan_buffers(g).buffers
    assert a in buf and b not in buf and v not in buf and c not in buf
    assert buf["__table__"] == (((2, 3), "float32"),)


def test_plan_buffers_a_reduction_or_new_array_does_not_make_its_input_escape():
    """A bias gradient (sum_to of an activation's gradient) written to .grad is new
    memory: the gradient it sums keeps its planned buffer. sum_to that sums nothing, and
    a view, pass their input's memory on: that input escapes."""
    gb, g2 = V(3), V(2, 3)
    a, s, b, r, c = V(2, 3), V(3), V(2, 3), V(2, 3), V(2, 3)
    w1, w2, w3 = V(3, name="w1"), V(2, 3, name="w2"), V(2, 3, name="w3")
    g = G([N("exp", (X,), a), N("sum_to", (a,), s, shape=(3,)),
           N("neg", (X,), b), N("sum_to", (b,), r, shape=(2, 3)),
           N("exp", (X,), c), N("softmax", (c,), g2, dim=-1)], (g2,), inputs=(X,),
          params=(w1, w2, w3), writes=(Write("assign", w1, s), Write("assign", w2, r)))
    buf = plan_buffers(g).buffers
    assert a in buf and c in buf              # summed / softmaxed into new memory
    assert b not in buf                       # sum_to to its own shape returns it


def test_executor_buffers_start_at_different_offsets_in_a_page():
    """Planned buffers of one size lie at distinct 64-byte offsets within a 4 KiB page,
    so a loop reading one and writing another never has matching low address bits."""
    from pyrch.jit.executor import _staggered_empty
    bufs = [_staggered_empty((256, 256), np.dtype(np.float32), k) for k in range(8)]
    offs = {b.ctypes.data % 4096 for b in bufs}
    assert len(offs) == 8 and all(o % 64 == 0 for o in offs)
    assert all(b.shape == (256, 256) and b.flags.c_contiguous and b.flags.writeable for b in bufs)
    small = _staggered_empty((3,), np.dtype(np.float64), 5)
    assert small.shape == (3,) and small.dtype == np.float64


def test_lower_makes_a_flat_step_list():
    a, b = V(2, 3), V(2, 3)
    w = V(2, 3, name="w")
    g = G([N("exp", (X,), a), N("add", (a, 1.0), b)], (b,), inputs=(X,), params=(w,),
          writes=(Write("assign", w, a),))
    p = lower(plan_buffers(g))
    assert p.inputs == [0] and p.params == [1] and p.n_slots == 4
    assert [(s.kind, s.op, s.args, s.outs, s.bufs) for s in p.steps] == [
        ("call", "exp", (("s", 0),), (2,), (-1,)), ("call", "add", (("s", 2), ("lit", 1.0)), (3,), (-1,))]
    assert p.outputs == [("s", 3)] and p.writes == [("assign", ("p", 0), ("s", 2))]


def test_hoist_moves_a_lone_multiply_of_a_product_behind_it_and_nothing_else():
    """grad @ W, then another product, then (grad @ W) * saved: the multiply moves to
    right after its product (the executor makes it that GEMM's epilogue). Not moved: a
    multiply whose other input is made after the product, one past an effectful node,
    one already next to its product, a square of the product."""
    gr, w, w2, sv = V(4, 3, name="g"), V(3, 5, name="w"), V(3, 5, name="w2"), V(4, 5, name="s")
    p1, p2, m = V(4, 5), V(4, 5), V(4, 5)
    body = (("mul", (("x", 0), ("x", 1)), (), "float32"),)
    fused = Node("fused", (p1, sv), (("body", body), ("outs", (0,))), (m,))
    g = G([N("matmul", (gr, w), p1), N("matmul", (gr, w2), p2), fused], (m, p2),
          inputs=(gr, w, w2, sv))
    out = passes.hoist_product_multiplies(g)
    verify(out)
    assert [n.op for n in out.nodes] == ["matmul", "fused", "matmul"]
    assert passes.hoist_product_multiplies(out).nodes == out.nodes       # idempotent
    x = [np.random.default_rng(0).standard_normal(v.shape).astype(np.float32)
         for v in (gr, w, w2, sv)]
    np.testing.assert_array_equal(run(out, x)[0], run(g, x)[0])
    # the other input made after the product: stays
    late = Node("fused", (p1, p2), (("body", body), ("outs", (0,))), (m,))
    g2 = G([N("matmul", (gr, w), p1), N("matmul", (gr, w2), p2), late], (m,), inputs=(gr, w, w2))
    assert passes.hoist_product_multiplies(g2) is g2
    # a square of the product: stays
    sq = Node("fused", (p1, p1), (("body", body), ("outs", (0,))), (m,))
    g3 = G([N("matmul", (gr, w), p1), N("matmul", (gr, w2), p2), sq], (m, p2), inputs=(gr, w, w2))
    assert passes.hoist_product_multiplies(g3) is g3


def test_pipeline_order_and_every_pass_keeps_graphs_valid():
    assert [p.__name__ for p in passes.PIPELINE] == [
        "dce", "cse", "fold_constants", "simplify", "fuse_attention", "simplify", "dce",
        "fuse_elementwise", "hoist_product_multiplies", "plan_buffers", "lower"]
    a, b, c, d, e = (V(2, 3) for _ in range(5))
    k = V(2, 3)
    g = G([N("mul", (X, 1.0), a), N("exp", (a,), b), N("exp", (a,), c), N("add", (b, c), d),
           N("add", (k, k), e), N("mul", (d, e), f := V(2, 3))], (f,), inputs=(X,),
          constants={k: np.ones((2, 3), np.float32)})
    for p in passes.PIPELINE[:-1]:
        g2 = p(g)
        verify(g2)
        assert text(p(g2)) == text(g2)
        g = g2
    x = np.arange(6, dtype=np.float32).reshape(2, 3) / 10
    np.testing.assert_allclose(run(g, [x])[0], 2 * 2 * np.exp(x), rtol=1e-6)


def run(g, inputs):
    """Execute a graph on arrays with the reference executor (for tests)."""
    plan = lower(plan_buffers(g))
    ex = Executor(plan)
    slots = ex.template.copy()
    for s, a in zip(plan.inputs, inputs):
        slots[s] = a
    ex.run(slots)
    return [slots[r[1]] if r[0] == "s" else r[1] for r in plan.outputs]


def test_executor_reuses_buffers_across_replays_and_returns_fresh_outputs():
    a, b, c = V(2, 3), V(2, 3), V(2, 3)
    g = G([N("exp", (X,), a), N("neg", (a,), b), N("add", (b, X), c)], (c,), inputs=(X,))
    plan = lower(plan_buffers(g))
    ex = Executor(plan)
    outs, bufs = [], []
    for i in range(2):
        slots = ex.template.copy()
        slots[plan.inputs[0]] = np.full((2, 3), float(i), np.float32)
        ex.run(slots)
        outs.append(slots[plan.outputs[0][1]])
        bufs.append(ex.buffers[0])
    assert bufs[0] is bufs[1]
    assert not np.shares_memory(outs[0], outs[1])
    np.testing.assert_allclose(outs[0], -1.0)


# -- verify --------------------------------------------------------------------------------
def test_verify_rejects_broken_graphs():
    a = V(2, 3)
    with pytest.raises(VerifyError, match="before it is defined"):
        verify(G([N("exp", (a,), V(2, 3))], (), inputs=(X,)))
    with pytest.raises(VerifyError, match="not in the registry"):
        verify(G([N("frobnicate", (X,), a)], (a,), inputs=(X,)))
    with pytest.raises(VerifyError, match="infer says"):
        verify(G([N("exp", (X,), V(3, 2))], (), inputs=(X,)))
    with pytest.raises(VerifyError, match="not hashable"):
        verify(G([Node("sum", (X,), (("dim", [0]),), (V(3),))], (), inputs=(X,)))
    bad = Node("fused", (X,), (("body", (("to_dtype", (("x", 0),), (), "float32"),)), ("outs", (0,))),
               (V(2, 3),))
    with pytest.raises(VerifyError, match="no cexpr"):
        verify(G([bad], (), inputs=(X,)))
    with pytest.raises(VerifyError, match="redefines"):
        verify(G([N("exp", (X,), a), N("neg", (X,), a)], (), inputs=(X,)))


def test_guards_and_writes_print_and_survive_passes():
    a, s, w = V(2, 3), V(), V(2, 3, name="w")
    g = G([N("exp", (X,), a), N("sum", (a,), s, dim=None, keepdim=False),
           N("gt", (s, 0.0), t := V(dt=b8))], (a,), inputs=(X,), params=(w,),
          writes=(Write("assign", w, a), Write("set_grad", w, None)),
          guards=(Guard("bool", t, True, "m.py:3"),))
    out = check_pass(passes.dce, g, """
graph f(%x: f32[2,3]) params(%w: f32[2,3]) {
  %0: f32[2,3] = exp(%x)
  %1: f32[] = sum(%0, dim=None, keepdim=False)
  %2: bool[] = gt(%1, 0.0)
  guard bool(%2) == True                              # m.py:3
  assign(%w, %0)
  set_grad(%w, None)
  return (%0)
}""")
    assert out.guards[0].value is t


def test_simplify_transposed_matmul_becomes_matmul_of_transposes():
    """(A @ B).T -> B.T @ A.T, and permute of permute cancels: weight gradients come out
    contiguous instead of as transposed views the optimizer update reads with strides."""
    a, b = V(4, 3), V(3, 5)
    at = V(3, 4)
    m, t = V(4, 5), V(5, 4)
    g = Graph("f", inputs=(a, b), nodes=(
        Node("permute", (a,), {"dims": (1, 0)}, (at,)),
        Node("permute", (at,), {"dims": (1, 0)}, (V(4, 3),)),
        Node("matmul", (a, b), {}, (m,)),
        Node("permute", (m,), {"dims": (1, 0)}, (t,))), outputs=(t,))
    out = passes.dce(passes.simplify(g))
    ops = [n.op for n in out.nodes]
    assert ops.count("matmul") == 1 and out.nodes[-1].op == "matmul"
    mm = out.nodes[-1]
    assert mm.outputs[0] is t and [v.shape for v in mm.inputs] == [(5, 3), (3, 4)]
    assert mm.inputs[1] is at or out.nodes[[n.outputs[0] for n in out.nodes].index(mm.inputs[1])].op == "permute"
    verify(out)


def _padded(z, v, start, stop, out):
    key = (("s", None, None, None), ("s", start, stop, None))
    return Node("setitem", (z, v), {"key": key}, (out,))


def test_simplify_sum_of_padded_slices_that_tile_a_dim_becomes_cat():
    """The backward of `a, b, c = x.split(2, dim=1)` pads each piece into zeros and adds
    them up; when the pieces tile the dim exactly that is one cat (one write, not five)."""
    zs = [V(3, 6) for _ in range(3)]
    vs = [V(3, 2, name=f"g{i}") for i in range(3)]
    s = [V(3, 6) for _ in range(3)]
    t1, t2 = V(3, 6), V(3, 6)
    nodes = [_padded(zs[i], vs[i], 2 * i, 2 * i + 2, s[i]) for i in (2, 0, 1)]
    nodes += [N("add", (s[0], s[1]), t1), N("add", (t1, s[2]), t2)]
    g = G(nodes, (t2,), inputs=tuple(vs), constants={z: np.zeros((3, 6), np.float32) for z in zs})
    out = passes.dce(passes.simplify(g))
    assert [n.op for n in out.nodes] == ["cat"]
    assert out.nodes[0].inputs == tuple(vs) and out.nodes[0].attr_dict() == {"dim": 1}
    verify(out)
    arrays = [np.random.default_rng(i).standard_normal((3, 2)).astype(np.float32) for i in range(3)]
    plan = lower(plan_buffers(out))
    slots = [None] * plan.n_slots
    for sl, a in zip(plan.inputs, arrays):
        slots[sl] = a
    Executor(plan).run(slots)
    np.testing.assert_array_equal(slots[plan.outputs[0][1]], np.concatenate(arrays, axis=1))


def test_simplify_turns_summed_getitem_backwards_into_cat():
    """What an eager backward records now: getitem_backward(g) per piece (zeros implicit),
    summed by the engine -> the same single cat."""
    vs = [V(3, 2, name=f"g{i}") for i in range(3)]
    s = [V(3, 6) for _ in range(3)]
    t1, t2 = V(3, 6), V(3, 6)
    nodes = [Node("getitem_backward", (vs[i],),
                  {"key": (("s", None, None, None), ("s", 2 * i, 2 * i + 2, None)),
                   "shape": (3, 6)}, (s[i],)) for i in (1, 2, 0)]
    nodes += [N("add", (s[0], s[1]), t1), N("add", (t1, s[2]), t2)]
    out = passes.dce(passes.simplify(G(nodes, (t2,), inputs=tuple(vs))))
    assert [n.op for n in out.nodes] == ["cat"] and out.nodes[0].inputs == tuple(vs)
    verify(out)
    # two pieces that leave a gap stay as they are
    g = G([nodes[1], nodes[2], N("add", (s[0], s[2]), t1)], (t1,), inputs=(vs[2], vs[0]))
    assert [n.op for n in passes.dce(passes.simplify(g)).nodes] == ["getitem_backward"] * 2 + ["add"]


def test_simplify_keeps_adds_of_overlapping_partial_or_nonzero_padding():
    vs = [V(3, 2, name=f"g{i}") for i in range(3)]
    z = V(3, 6)
    cases = [((0, 2), (1, 3), np.zeros((3, 6), np.float32)),      # overlapping: real sums
             ((0, 2), (2, 4), np.zeros((3, 6), np.float32)),      # tiles only part of the dim
             ((0, 3), (3, 6), np.ones((3, 6), np.float32))]       # padding is not zero
    for (a0, a1), (b0, b1), base in cases:
        va, vb = V(3, a1 - a0), V(3, b1 - b0)
        sa, sb, t = V(3, 6), V(3, 6), V(3, 6)
        g = G([_padded(z, va, a0, a1, sa), _padded(z, vb, b0, b1, sb), N("add", (sa, sb), t)],
              (t,), inputs=(va, vb), constants={z: base})
        out = passes.dce(passes.simplify(g))
        assert "cat" not in [n.op for n in out.nodes] and out.nodes[-1].op == "add"


def test_fuse_takes_a_lone_op_only_when_numpy_has_no_single_ufunc_for_it():
    """A lone `where` (np.where: several passes, no out=) becomes a one-op C loop; a lone
    `add` stays the numpy ufunc writing into its planned buffer."""
    m = V(2, 3, dt=b8, name="m")
    w, s = V(2, 3), V(3)
    g = G([N("where", (m, X, 0.0), w), N("sum", (w,), s, dim=0, keepdim=False)], (s,),
          inputs=(m, X))
    out = passes.fuse_elementwise(g)
    assert [n.op for n in out.nodes] == ["fused", "sum"]
    assert [op for op, *_ in out.nodes[0].attr_dict()["body"]] == ["where"]
    a = V(2, 3)
    g2 = G([N("add", (X, Y), a)], (a,), inputs=(X, Y))
    assert [n.op for n in passes.fuse_elementwise(g2).nodes] == ["add"]


def test_simplify_spells_out_gelu_backward_so_its_a_only_part_can_fuse_forward():
    g, a, out = V(2, 3, name="g"), V(2, 3, name="a"), V(2, 3)
    graph = G([N("gelu_backward", (g, a), out)], (out,), inputs=(g, a))
    res = passes.dce(passes.simplify(graph))
    ops = [n.op for n in res.nodes]
    assert "gelu_backward" not in ops and ops.count("erf") == 1 and ops.count("exp") == 1
    assert res.nodes[-1].op == "mul" and res.nodes[-1].inputs[0] is g
    verify(res)
    rng = np.random.default_rng(0)
    ga, aa = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    plan = lower(plan_buffers(res))
    slots = [None] * plan.n_slots
    slots[plan.inputs[0]], slots[plan.inputs[1]] = ga.astype(np.float32), aa.astype(np.float32)
    Executor(plan).run(slots)
    from pyrch.ops.elementwise_nn import gelu_backward
    np.testing.assert_allclose(slots[plan.outputs[0][1]],
                               gelu_backward.forward(np, ga.astype(np.float32), aa.astype(np.float32)),
                               rtol=1e-6, atol=1e-6)
