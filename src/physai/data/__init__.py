"""Datasets in the LeRobot v3.0 format: writer, reader, video, stats, repair, convert."""
