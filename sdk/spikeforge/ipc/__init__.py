"""Out-of-process hosts: the wire protocol codec (``protocol``), the server core shared by
every transport (``core``; :class:`InProcessServer` for hosts that embed Python), the asyncio
server (``server``, ``serve`` for ``spikeforge serve``), shared-memory blocks (``shm``), the
reference client (``client``) and a test helper that starts a real server (``testing``).
See ``integrations/PROTOCOL.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spikeforge.ipc.core import InProcessConnection, InProcessServer

__all__ = ["InProcessConnection", "InProcessServer"]


def __getattr__(name: str) -> Any:
    # lazy: importing spikeforge.ipc (e.g. for the protocol codec) does not load the runtime
    if name in __all__:
        from spikeforge.ipc import core

        return getattr(core, name)
    raise AttributeError(f"module 'spikeforge.ipc' has no attribute {name!r}")
