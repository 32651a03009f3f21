"""Elementwise ops: arithmetic, transcendental, activations, comparisons.

Each has a forward on arrays, a backward in pyrch ops and, where one exists,
a C expression over operands a, b, c that the fusion code generator splices
into a fused loop.
"""
from .registry import op


@op("add", kind="elementwise", dtype="promote", cexpr="a + b")
def add(xp, a, b):
    return xp.add(a, b)


@add.backward
def _(g):
    return g, g


@op("sub", kind="elementwise", dtype="promote", cexpr="a - b")
def sub(xp, a, b):
    return xp.subtract(a, b)


@sub.backward
def _(g, needs):
    return g, (-g if needs[1] else None)


@op("mul", kind="elementwise", dtype="promote", cexpr="a * b")
def mul(xp, a, b):
    return xp.multiply(a, b)


@mul.backward
def _(g, a, b, needs):
    return (g * b if needs[0] else None), (g * a if needs[1] else None)


@op("div", kind="elementwise", dtype="float", cexpr="a / b")
def div(xp, a, b):
    return xp.true_divide(a, b)


@div.backward
def _(g, a, b, needs):
    ga = g / b if needs[0] else None
    gb = -g * a / (b * b) if needs[1] else None
    return ga, gb


@op("neg", kind="elementwise", dtype="keep", cexpr="-a")
def neg(xp, a):
    return xp.negative(a)


@neg.backward
def _(g):
    return (-g,)


@op("exp", kind="elementwise", dtype="float", cexpr="exp(a)")
def exp(xp, a):
    return xp.exp(a)


@exp.backward
def _(g, out):
    return (g * out,)
