"""Built-in metrics, registered through the same hooks as plugins' metrics."""
