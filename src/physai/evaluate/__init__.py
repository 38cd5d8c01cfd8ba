"""physai.evaluate."""
