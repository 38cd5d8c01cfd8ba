"""physai.hardware."""
