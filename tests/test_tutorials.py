"""Every tutorial script runs (PYRCH_TUTORIAL_FAST=1) and every notebook executes."""
import glob
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TUT = os.path.join(ROOT, "tutorials")
SCRIPTS = sorted(p for p in glob.glob(os.path.join(TUT, "[0-9][0-9]_*.py")))
NOTEBOOKS = sorted(glob.glob(os.path.join(TUT, "*.ipynb")))
OPTIONAL = {"onnx", "onnxruntime", "cupy", "mpi4py"}     # extras a tutorial may need


def _env():
    env = dict(os.environ, PYRCH_TUTORIAL_FAST="1", PYTHONPATH=ROOT + os.pathsep +
               os.environ.get("PYTHONPATH", ""))
    env.pop("PYRCH_JIT", None)
    return env


def test_tutorials_exist():
    names = {os.path.basename(p) for p in SCRIPTS}
    for n in ("02_tensors_autograd.py", "03_nn_training.py", "04_custom_function.py",
              "05_jit_trace.py", "06_c_executor_speed.py", "07_save_load.py"):
        assert n in names
    assert {"01_quickstart.ipynb", "05_jit_trace.ipynb"} <= {os.path.basename(p) for p in NOTEBOOKS}


_RUN_NB = """
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
try:
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": sys.argv[3]}}).execute()
finally:
    nbformat.write(nb, sys.argv[2])
"""


def _have_nbclient():
    try:
        import ipykernel  # noqa: F401
        import nbclient  # noqa: F401
        import nbformat  # noqa: F401
    except ImportError as e:
        return str(e)
    return None


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Start every script and notebook at once (they are independent): the module takes
    about as long as the slowest one on a machine with enough cores."""
    procs = {p: subprocess.Popen([sys.executable, p], cwd=ROOT, env=_env(), text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE) for p in SCRIPTS}
    if _have_nbclient() is None:
        out = tmp_path_factory.mktemp("notebooks")
        for p in NOTEBOOKS:
            dst = str(out / os.path.basename(p))
            procs[p] = subprocess.Popen([sys.executable, "-c", _RUN_NB, p, dst, TUT], cwd=ROOT,
                                        env=_env(), text=True, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE)
            procs[p].executed = dst
    yield procs
    for pr in procs.values():
        if pr.poll() is None:
            pr.kill()
            pr.communicate()


@pytest.mark.parametrize("path", SCRIPTS, ids=os.path.basename)
def test_script_runs(path, runs):
    pr = runs[path]
    out, err = pr.communicate(timeout=120)
    missing = re.search(r"ModuleNotFoundError: No module named '([\w.]+)'", err)
    if pr.returncode and missing and missing.group(1).split(".")[0] in OPTIONAL:
        pytest.skip(f"{os.path.basename(path)} needs the optional package {missing.group(1)}")
    assert pr.returncode == 0, f"{os.path.basename(path)} failed:\n{out[-2000:]}\n{err[-4000:]}"
    assert out.strip(), "a tutorial should print what it shows"
    assert "Traceback" not in err


def test_notebooks_mirror_scripts():
    nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed")
    sys.path.insert(0, TUT)
    try:
        import make_notebooks
    finally:
        sys.path.remove(TUT)
    for name in make_notebooks.NOTEBOOKS:
        want = [(c.cell_type, c.source) for c in make_notebooks.build(name).cells]
        nb = nbformat.read(os.path.join(TUT, name + ".ipynb"), 4)
        have = [(c.cell_type, c.source) for c in nb.cells]
        assert have == want, (f"tutorials/{name}.ipynb is out of date with {name}.py: run "
                              "`python tutorials/make_notebooks.py`")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs(path, runs):
    missing = _have_nbclient()
    if missing:
        pytest.skip(f"notebooks need nbclient, nbformat and ipykernel ({missing})")
    import nbformat
    pr = runs[path]
    out, err = pr.communicate(timeout=240)
    nb = nbformat.read(pr.executed, as_version=4)
    errors = [f"{o.ename}: {o.evalue}" for c in nb.cells if c.cell_type == "code"
              for o in c.get("outputs", []) if o.output_type == "error"]
    assert pr.returncode == 0 and not errors, f"{errors}\n{err[-3000:]}"
    html = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if "text/html" in o.get("data", {})]
    assert html, "the notebook should show at least one rich HTML view"
