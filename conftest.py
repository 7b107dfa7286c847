"""Settings every test run shares (core and plugins): CI's portability runs set them by environment.

Under pytest-xdist each worker uses its share of the CPUs (``$OMP_NUM_THREADS``, when not set).

``GENBENCH_TEST_MATMUL_PRECISION`` (highest, high or medium) is passed to
``torch.set_float32_matmul_precision`` before any test runs, so `.ci/run` can check that the golden
values hold under the other float32 matmul precision too (they are computed in float64).
"""

from __future__ import annotations

import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    if workers.isdigit() and "OMP_NUM_THREADS" not in os.environ:
        # Each worker (and the genbench processes its tests start) gets its share of the CPUs. At
        # torch's default, a thread per core in every worker, 2 workers on 2 cores oversubscribe them:
        # `make test` had done 60% after 10 minutes, against 5.9 minutes for all of it with this.
        share = max(1, (os.cpu_count() or 1) // int(workers))
        os.environ["OMP_NUM_THREADS"] = str(share)
        import torch

        torch.set_num_threads(share)
    precision = os.environ.get("GENBENCH_TEST_MATMUL_PRECISION")
    if precision:
        import torch

        torch.set_float32_matmul_precision(precision)
