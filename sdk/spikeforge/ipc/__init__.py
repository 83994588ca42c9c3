"""Out-of-process hosts: the wire protocol codec (``protocol``), the server (``server``,
``serve`` for ``spikeforge serve``), shared-memory blocks (``shm``), the reference
client (``client``) and a test helper that starts a real server (``testing``).
See ``integrations/PROTOCOL.md``.
"""
