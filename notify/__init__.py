"""posfleet-notify: relays Alertmanager webhooks to DingTalk, WeCom, Feishu and HTTP (SMS/voice).

Exceptions::

    NotifyError                 base of everything this package raises on purpose
    ├── ConfigError             the configuration is wrong; the message names the setting and fix
    └── SpoolError              the spool file cannot be opened or written
"""


class NotifyError(Exception):
    """Base of posfleet-notify's own errors."""


class ConfigError(NotifyError):
    """Bad configuration; retrying will not help until the setting is fixed."""


class SpoolError(NotifyError):
    """The spool cannot be opened or written; the message names the path to fix."""
