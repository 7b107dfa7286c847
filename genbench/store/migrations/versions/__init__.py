"""One file per schema revision, oldest first (0001_initial is the 0.1.0 schema)."""
