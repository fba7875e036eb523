"""Moving and checking bytes: sync, index, serve, install, pack, verify, run."""
