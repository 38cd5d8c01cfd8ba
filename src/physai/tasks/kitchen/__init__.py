"""The kitchen task suite."""
