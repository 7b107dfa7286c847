"""The body of one job submitted by ``genbench suite run --executor slurm``.

It lives apart from the executor so a job's wrapper process imports only the standard library
(not torch) before it starts the ``genbench`` command that does the work.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from typing import Any


def run_job(cmd: list[str], db_url: str) -> None:
    """Run the local executor's ``genbench run|resume`` command in this job's allocation.

    The store URL travels in the environment, not on the command line where ``ps`` shows it.
    ``scancel``'s SIGTERM, and the USR2 Slurm sends before the time limit, reach the command as
    SIGINT: its run checkpoints and stops as ``interrupted``, and the next ``suite run`` resumes it."""
    env = dict(os.environ, GENBENCH_DB=db_url)
    if os.environ.get("SLURM_CPUS_PER_TASK"):  # the CPUs Slurm gave this job, not the submitting shell's setting
        env["OMP_NUM_THREADS"] = os.environ["SLURM_CPUS_PER_TASK"]
    print("$ " + shlex.join(cmd), flush=True)
    proc = subprocess.Popen(cmd, env=env)

    def forward(signum: int, frame: Any) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR2):
        signal.signal(sig, forward)
    rc = proc.wait()
    if rc != 0:
        raise RuntimeError(f"`{shlex.join(cmd[1:4])} ...` exited with code {rc}; its output is above")
