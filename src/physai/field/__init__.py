"""Field integration: MCAP session recording, bag <-> dataset conversion, the Franka loop reference."""
