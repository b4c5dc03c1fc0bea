"""Settings -> broker connection parameters (reads the password file once)."""

from __future__ import annotations

from agent.config import AgentSettings
from agent.link import BrokerConfig


def broker_config(s: AgentSettings) -> BrokerConfig:
    return BrokerConfig(
        host=s.broker_host,
        port=s.broker_port,
        keepalive=s.keepalive,
        username=s.username,
        password=s.password(),
        ca_file=s.ca_file,
        cert_file=s.cert_file,
        key_file=s.key_file,
        tls=s.tls,
        tls_insecure_hostname=s.tls_insecure_hostname,
        reconnect_min_delay=s.reconnect_min_delay,
        reconnect_max_delay=s.reconnect_max_delay,
    )
