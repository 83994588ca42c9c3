"""One real multi-node Ray cluster (``ray.cluster_utils.Cluster``: a head and two worker nodes,
each its own raylet and object store) shared by every test in tests/cluster (package scope:
Ray stops when they are done, not at the end of the whole session)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

ray = pytest.importorskip("ray") if not os.environ.get("CI") else __import__("ray")  # CI: missing Ray fails

NODES = 3
STORE = 100 * 1024 * 1024


@pytest.fixture(scope="package")  # torn down after tests/cluster, not at session end
def ray_cluster() -> Iterator[Any]:
    from ray.cluster_utils import Cluster

    # workers inherit the driver's environment: make them import this checkout
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    os.environ["PYTHONPATH"] = os.pathsep.join([os.path.join(root, "sdk"), root,
                                                os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no telemetry calls from the test cluster
    # "head": a resource only the driver's node has, for shards that must share its node (compiled graph)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "object_store_memory": STORE,
                                                            "include_dashboard": False, "resources": {"head": 8}})
    for _ in range(NODES - 1):
        cluster.add_node(num_cpus=2, object_store_memory=STORE)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level="WARNING", log_to_driver=False)
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()
