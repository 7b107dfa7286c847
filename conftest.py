"""Settings every test run shares (core and plugins): CI's portability runs set them by environment.

``GENBENCH_TEST_MATMUL_PRECISION`` (highest, high or medium) is passed to
``torch.set_float32_matmul_precision`` before any test runs, so `.ci/run` can check that the golden
values hold under the other float32 matmul precision too (they are computed in float64).
"""

from __future__ import annotations

import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    precision = os.environ.get("GENBENCH_TEST_MATMUL_PRECISION")
    if precision:
        import torch

        torch.set_float32_matmul_precision(precision)
