"""Real local processes and stand-ins for tests, benchmarks and drills: Prometheus and
Alertmanager from the shipped configs, a paging stack, a webhook receiver, VictoriaMetrics, a
throwaway PostgreSQL, a single raw gateway, a seeded store; and ``wait_for``. Nothing here runs
in production."""
