"""physai.deploy: signed model packages, the safety supervisor, robot drivers, the runtime and the server."""

