"""genbench tracker plugin: TensorBoard event files for every run (see plugin.py)."""
