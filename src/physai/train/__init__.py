"""physai.train."""
