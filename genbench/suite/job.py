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


def run_job(cmd: list[str], url_file: str) -> None:
    """Run the local executor's ``genbench run|resume`` command in this job's allocation.

    The store URL is read from ``url_file`` (mode 0600, written by the submitting ``suite run``)
    into the command's environment: it is not in submitit's pickled arguments, nor on the
    command line where ``ps`` shows it.
    ``scancel``'s SIGTERM, and the USR2 Slurm sends before the time limit, reach the command as
    SIGINT: its run checkpoints and stops as ``interrupted``, and the next ``suite run`` resumes it."""
    with open(url_file, encoding="utf-8") as fh:
        env = dict(os.environ, GENBENCH_DB=fh.read().strip())
    if os.environ.get("SLURM_CPUS_PER_TASK"):  # the CPUs Slurm gave this job, not the submitting shell's setting
        env["OMP_NUM_THREADS"] = os.environ["SLURM_CPUS_PER_TASK"]
    print("$ " + shlex.join(cmd), flush=True)
    # Slurm signals every process of the job, and Python dies of SIGTERM and SIGUSR2: the command
    # ignores both (SIGKILL after Slurm's KillWait still ends it) and gets SIGINT from us instead,
    # once; its own session keeps a terminal's Ctrl-C (submitit-local) from reaching it twice.
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, preexec_fn=_ignore_cluster_signals)

    def forward(signum: int, frame: Any) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR2)}
    try:
        rc = proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if rc != 0:
        raise RuntimeError(f"`{shlex.join(cmd[1:4])} ...` exited with code {rc}; its output is above")


def _ignore_cluster_signals() -> None:
    """In the child, before exec: an ignored signal stays ignored in the new program."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # not ignored, even when this job was started in the background
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
