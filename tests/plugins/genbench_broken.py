"""A fixture plugin that fails on import, as a plugin with a missing dependency would."""

import genbench_toy_missing_dependency  # noqa: F401
