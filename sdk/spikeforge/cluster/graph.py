"""The cluster's frame path on a Ray Compiled Graph: one pre-built graph over the shard actors.

An ordinary actor call costs a task submission, a scheduling round through Ray's core worker
and an object-store (or inline) reply: ~1-2 ms per frame on a loaded 2-core host, whatever the
payload (docs/performance.md, "Cluster"). A compiled graph (``ray.dag``,
``experimental_compile``) sets up, once, a loop on each shard actor that reads its frame
request from a pre-allocated channel and writes its reply to another: shared memory between
processes of one node, Ray's object manager between nodes. A frame is then one write and one
read per shard, no task submission.

The graph is all live shards' ``Shard.frame`` fed from one input (request ``k`` goes to shard
``k``; a shard with nothing to run gets ``b""``) into one multi-output node. It is built by
:class:`~spikeforge.cluster.world.ClusterWorld` when it starts and after every fault (an actor
Ray restarted has no graph loop, a lost shard leaves it), and torn down before a rebuild and on
close. A graph cannot tell which shard broke it (an actor death or a timeout fails every
output), so on any failure the world starts tearing the graph down (in the background: Ray's
teardown waits for killed actors to be restarted) and asks each shard through ordinary calls
whether it ran the frame (:meth:`~spikeforge.cluster.shard.Shard.frame_status`); a shard runs a
given frame serial at most once, so a frame the graph delivers late is never run twice.
"""

from __future__ import annotations

import threading
import time
from typing import Any

FRAME_PATHS = ("auto", "compiled", "remote")
"""Values of ``ClusterWorld(frame_path=...)``: compiled graph when it builds else ordinary calls,
compiled graph or an error, ordinary actor calls."""


class GraphBroken(RuntimeError):
    """The compiled graph failed as a whole (an actor died, a channel closed or timed out);
    which shards ran the frame has to be asked of the shards themselves.

    Attributes
    ----------
    timed_out : bool
        Whether the graph gave no answer within the frame timeout (a shard may be hung).
    """

    def __init__(self, message: str, timed_out: bool) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class ShardFrameError(RuntimeError):
    """A shard's ``frame`` raised while it ran on the compiled graph (the graph stays usable).

    Attributes
    ----------
    shard : int
        The shard whose frame raised.
    error : BaseException
        Ray's error from the shard (a ``RayTaskError`` wrapping the shard's exception).
    """

    def __init__(self, shard: int, error: BaseException) -> None:
        super().__init__(f"shard {shard}: {error}")
        self.shard = shard
        self.error = error


def unavailable_reason() -> str | None:
    """Why Ray Compiled Graphs cannot be used in this process, or None when they can.

    Returns
    -------
    str or None
        The reason (no ``ray.dag``, Ray Client mode, ...); None when a graph may be built.
    """
    try:
        import ray
        from ray.dag import InputNode, MultiOutputNode  # noqa: F401  (present in Ray >= 2.32)
    except ImportError as exc:
        return f"ray.dag is not importable ({exc})"
    try:
        from ray.util.client import ray as client_ray

        if client_ray.is_connected():  # type: ignore[no-untyped-call]
            return "Ray Client (ray://) mode has no compiled graphs"
    except ImportError:  # no client module: not in client mode
        pass
    if not ray.is_initialized():
        return "Ray is not initialised"
    return None


class FrameGraph:
    """A compiled graph running one frame on every given shard actor.

    Parameters
    ----------
    actors : dict of int to actor handle
        Shard index -> its Ray actor (live shards only; each must be answering).
    submit_timeout : float
        Seconds :meth:`run` may wait to hand a frame to the graph (s).

    Raises
    ------
    Exception
        Whatever Ray raises when the graph cannot be compiled (the caller falls back).
    """

    def __init__(self, actors: dict[int, Any], submit_timeout: float) -> None:
        from ray.dag import InputNode, MultiOutputNode

        self.shards: tuple[int, ...] = tuple(sorted(actors))
        with InputNode() as inp:
            outs = [actors[k].frame.bind(inp[i]) for i, k in enumerate(self.shards)]
            dag = MultiOutputNode(outs)
        t0 = time.perf_counter()
        self._graph: Any = dag.experimental_compile(_submit_timeout=submit_timeout)
        self.compile_s = time.perf_counter() - t0
        self._closed = False
        self._thread = threading.Thread()

    def run(self, requests: dict[int, bytes], timeout: float) -> dict[int, Any]:
        """Run one frame: ``requests[k]`` to shard ``k`` (``b""`` to shards not in it).

        Parameters
        ----------
        requests : dict of int to bytes
            Frame request of each shard that has brains to run.
        timeout : float
            Seconds to wait for all replies (s).

        Returns
        -------
        dict of int to object
            Each requested shard's ``Shard.frame`` return value.

        Raises
        ------
        GraphBroken
            The graph failed as a whole; it is no longer usable.
        ShardFrameError
            A shard's ``frame`` raised (the first such shard); the graph stays usable.
        """
        import ray

        if self._closed:
            raise GraphBroken("the compiled graph was torn down", False)
        deadline = time.monotonic() + timeout
        try:
            refs = self._graph.execute(*[requests.get(k, b"") for k in self.shards])
        except Exception as exc:  # the monitor already tore it down (an actor died before this frame)
            raise GraphBroken(f"execute: {type(exc).__name__}: {exc}", False) from exc
        out: dict[int, Any] = {}
        error: ShardFrameError | None = None
        for k, ref in zip(self.shards, refs, strict=True):
            try:  # the first get reads every output; the rest are cached in the driver
                got = ray.get(ref, timeout=max(0.0, deadline - time.monotonic()))
            except ray.exceptions.RayTaskError as exc:  # raised inside Shard.frame: the loop goes on
                error = error or ShardFrameError(k, exc)
                continue
            except TimeoutError as exc:  # RayChannelTimeoutError is one
                raise GraphBroken(f"no answer within {timeout:g} s ({type(exc).__name__})", True) from exc
            except Exception as exc:  # an actor died, a channel closed
                raise GraphBroken(f"{type(exc).__name__}: {exc}", False) from exc
            if k in requests:
                out[k] = got
        if error is not None:
            raise error
        return out

    def start_teardown(self) -> None:
        """Start stopping the graph's loops on the actors and freeing its channels (idempotent).

        Ray's teardown waits for each actor's loop to exit, for a killed actor until Ray has
        restarted it (seconds), for a hung one without a limit: it runs on a daemon thread, and
        :meth:`wait_teardown` waits for it. A new graph on the same actors needs it finished.
        """
        if self._closed:
            return
        self._closed = True
        self._thread = threading.Thread(target=self._graph.teardown, name="spikeforge-graph-teardown", daemon=True)
        self._thread.start()

    def wait_teardown(self, timeout: float) -> bool:
        """Start the teardown if needed and wait up to ``timeout`` seconds for it.

        Parameters
        ----------
        timeout : float
            Seconds to wait (s); 0 only asks.

        Returns
        -------
        bool
            True when the teardown has finished.
        """
        self.start_teardown()
        self._thread.join(timeout)
        return not self._thread.is_alive()
