"""physai.deploy."""
