"""The quadruped task suite."""
