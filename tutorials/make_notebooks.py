"""Build the tutorial notebooks from the tutorial scripts (run after editing a script).

    python tutorials/make_notebooks.py

A notebook mirrors its script: the module docstring becomes the title cell,
each `# -- N. Section --` comment starts a markdown heading and a code cell,
and a few extra cells at the end show the rich notebook views (tensor,
module and graph tables). tests/test_tutorials.py checks that the notebooks
are up to date and that they run.
"""
import os
import re

import nbformat

HERE = os.path.dirname(os.path.abspath(__file__))
_SECTION = re.compile(r"^# -- (.+?) -*$")
_TOP = re.compile(r"^(def |class |@|if __name__)")

EXTRA = {
    "01_quickstart": [
        ("md", "## Notebook views\n\nIn Jupyter, modules show their layer tree with parameter "
               "counts, `utils.summary` a per-layer table, and tensors their shape, dtype, "
               "statistics and a value preview (`print(t)` keeps the PyTorch text)."),
        ("code", "model = DigitsCNN()\nmodel"),
        ("code", "from pyrch.utils import summary\nsummary(model, (BATCH, 1, 8, 8))"),
        ("code", "x, y = load_digits()\nx[0, 0]"),
    ],
    "05_jit_trace": [
        ("md", "## Notebook views\n\nA traced graph renders as a table; fused elementwise "
               "groups are highlighted. Modules show their tree with parameter counts, "
               "optimizers their parameter groups."),
        ("code", "gelu_ish.graph_for(x, w)"),
        ("code", "model"),
        ("code", "opt"),
        ("code", "from pyrch.utils import summary\nsummary(model, (32, 16))"),
    ],
}


def script_cells(source):
    """Split a tutorial script into (kind, text) cells."""
    m = re.match(r'\s*"""(.*?)"""\n', source, re.S)
    cells = []
    if m:
        head, _, body = m.group(1).strip().partition("\n\n")
        title = " ".join(head.split())
        body = "\n".join(line for line in body.splitlines() if "python tutorials/" not in line)
        cells.append(("md", f"# {title}\n\n{body.strip()}"))
        source = source[m.end():]
    lines = source.splitlines()
    sections = any(_SECTION.match(line) for line in lines)
    code = []
    for i, line in enumerate(lines):
        s = _SECTION.match(line)
        # without section comments, each top-level def/class/main block gets its own cell
        split = not sections and _TOP.match(line) and i > 0 and not lines[i - 1].strip()
        if (s or split) and "".join(code).strip():
            cells.append(("code", "\n".join(code).strip("\n")))
            code = []
        if s:
            cells.append(("md", f"## {s.group(1)}"))
        else:
            code.append(line)
    if "".join(code).strip():
        cells.append(("code", "\n".join(code).strip("\n")))
    return cells


def build(name):
    """The notebook for tutorials/<name>.py (plus its extra cells), as a nbformat node."""
    with open(os.path.join(HERE, name + ".py")) as f:
        cells = script_cells(f.read()) + EXTRA.get(name, [])
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(t) if k == "md" else nbformat.v4.new_code_cell(t)
                for k, t in cells]
    for i, c in enumerate(nb.cells):
        c["id"] = f"{name[:2]}-{i:02d}"           # stable ids: rebuilding changes nothing
    return nb


NOTEBOOKS = ("01_quickstart", "05_jit_trace")


def main():
    for name in NOTEBOOKS:
        path = os.path.join(HERE, name + ".ipynb")
        nbformat.write(build(name), path)
        print("wrote", os.path.relpath(path))


if __name__ == "__main__":
    main()
