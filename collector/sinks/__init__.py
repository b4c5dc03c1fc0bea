"""Telemetry sinks: long-term storage outside the collector's SQLite (InfluxDB).

Imported lazily by ``collector.main`` only when a sink is enabled, so a collector without
InfluxDB never loads influxdb-client.
"""
