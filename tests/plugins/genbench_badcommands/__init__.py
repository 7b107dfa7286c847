"""Fixture plugins whose commands go wrong in each way a plugin author's can, one per module
(a module implements a hook once): the CLI must keep every other command working."""
