"""The humanoid task suite."""
