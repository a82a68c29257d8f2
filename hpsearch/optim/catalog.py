"""The built-in registry entries (placeholder: the optimizer issue fills this in)."""
