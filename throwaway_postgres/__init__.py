"""A throwaway PostgreSQL cluster (initdb in a temporary directory, a free loopback port, password auth),
for tests, benchmarks and the demo. See cluster.py.

    from throwaway_postgres import start_cluster
    with start_cluster() as cluster:
        psycopg2.connect(cluster.url)
"""

from .cluster import Cluster, database_url, start_cluster

__all__ = ["Cluster", "database_url", "start_cluster"]
