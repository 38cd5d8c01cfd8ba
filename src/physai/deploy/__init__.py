"""physai.deploy: signed model packages, the safety supervisor, robot drivers, the runtime and the server."""

from physai.deploy import demo_stage  # noqa: F401  (registers the "package" demo stage)
