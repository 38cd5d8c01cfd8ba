"""physai.fleet: the operations service (API, database, auth, audit), dashboard, robot agent, flywheel."""

from physai.fleet import demo_stage  # noqa: F401  (registers the "fleet" demo stage)
