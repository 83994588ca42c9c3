"""Brains sharded over a Ray cluster behind the :class:`~spikeforge.runtime.world.World` API.

Needs the ``[cluster]`` extra (``pip install 'spikeforge[cluster]'``, i.e. Ray). See
``docs/cluster.md``.
"""

from spikeforge.cluster.world import (
    ClusterBrain,
    ClusterError,
    ClusterFrameResult,
    ClusterGroup,
    ClusterLayout,
    ClusterWorld,
    Rollback,
)

__all__ = ["ClusterBrain", "ClusterError", "ClusterFrameResult", "ClusterGroup", "ClusterLayout", "ClusterWorld",
           "Rollback"]
