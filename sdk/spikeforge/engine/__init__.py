"""How brains are simulated: the layout compiler, the Backend interface and its backends."""

from spikeforge.engine.backend import Backend, SpikeRecord, available_backends, resolve_backend
from spikeforge.engine.layout import Layout

__all__ = ["Backend", "Layout", "SpikeRecord", "available_backends", "resolve_backend"]
