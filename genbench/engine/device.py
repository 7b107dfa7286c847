"""Device selection, seeding and a description of the hardware a run used."""

from __future__ import annotations

import os
import platform
import random

import torch

from genbench.errors import GenbenchError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise GenbenchError(f"unknown device '{name}': use auto, cpu or cuda")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise GenbenchError("--device cuda asked for, but no CUDA GPU is visible: use --device cpu or auto")
    return torch.device(name)


def hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (torch {torch.__version__}, CUDA {torch.version.cuda})"
    return f"{platform.processor() or platform.machine()} x{os.cpu_count()} CPU, {torch.get_num_threads()} threads"


MAX_DEFAULT_THREADS = 4  # beyond this, small models gain little and a shared machine loses more


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. a Slurm allocation), else the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_threads() -> int:
    """The thread count a run uses when ``--threads`` is not given.

    ``$OMP_NUM_THREADS`` when set (the user has chosen); otherwise the CPUs left idle by the
    other processes (available CPUs minus the 1-minute load average, rounded), between 1 and
    :data:`MAX_DEFAULT_THREADS`. torch's own default, one thread per core, oversubscribes a
    loaded machine: on a 2-core machine shared with other jobs a DDPM step ran 5.5x slower at
    torch's default than at 1 thread (benchmarks/threads.py measures it).
    """
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    cpus = available_cpus()
    try:
        busy = round(os.getloadavg()[0])
    except OSError:
        busy = 0
    return max(1, min(MAX_DEFAULT_THREADS, cpus - busy))


def set_threads(threads: int | None = None) -> int:
    """Set torch's intra-op thread count (``None`` or 0: :func:`default_threads`); returns it."""
    if threads is not None and threads < 0:
        raise GenbenchError(f"--threads {threads}: give a positive count, or 0 for the default")
    n = threads or default_threads()
    torch.set_num_threads(n)
    return n


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
