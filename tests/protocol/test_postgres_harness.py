"""The throwaway PostgreSQL cluster starts, accepts password auth and runs SQL."""
import psycopg2


def test_cluster_accepts_queries(pg_url, pg_schema):
    conn = psycopg2.connect(pg_url)
    with conn, conn.cursor() as cur:
        cur.execute(f'CREATE SCHEMA "{pg_schema}"')
        cur.execute(f'CREATE TABLE "{pg_schema}".t (id int)')
        cur.execute(f'INSERT INTO "{pg_schema}".t VALUES (1), (2)')
        cur.execute(f'SELECT count(*) FROM "{pg_schema}".t')
        assert cur.fetchone()[0] == 2
        cur.execute("SHOW server_version")
        assert cur.fetchone()[0].startswith("15")
    conn.close()
