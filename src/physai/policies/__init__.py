"""physai.policies."""
