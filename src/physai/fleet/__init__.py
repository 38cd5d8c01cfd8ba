"""physai.fleet: the operations service (API, database, auth, audit), dashboard, robot agent, flywheel."""

