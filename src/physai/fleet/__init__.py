"""physai.fleet."""
