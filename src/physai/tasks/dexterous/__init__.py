"""The dexterous task suite."""
