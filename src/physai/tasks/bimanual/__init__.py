"""Two-arm cooperation tasks on the `bimanual` station."""
