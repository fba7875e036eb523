"""wheelhouse: lock, mirror and mount Python dependencies for offline inference images."""

__version__ = "0.1.0"
