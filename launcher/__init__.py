"""The launcher: parses flags, runs the pipeline locally or submits it, shows progress, stops cleanly (not shipped)."""
