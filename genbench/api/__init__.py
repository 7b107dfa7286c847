"""The contracts plugins implement: models, datasets and metrics."""
