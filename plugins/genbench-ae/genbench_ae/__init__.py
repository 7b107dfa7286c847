"""genbench-ae: autoencoders, an AE-pretrained classifier, and the baselines they are compared with.

Importing this package is cheap (no torch): the models live in their own modules and are
imported when genbench first builds one.
"""

from __future__ import annotations

__version__ = "0.1.0"
