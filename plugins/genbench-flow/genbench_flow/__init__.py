"""genbench-flow: normalizing flows (RealNVP and Glow) for genbench.

Importing this package is cheap (no torch): the models live in :mod:`genbench_flow.realnvp`
and :mod:`genbench_flow.glow` and are imported when genbench first builds one.
"""

from __future__ import annotations

__version__ = "0.1.0"
