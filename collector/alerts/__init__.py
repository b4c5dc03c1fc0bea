"""The alert engine: lifecycle, dependencies, flapping, windows, suspension, telemetry kinds.

Pure core (``engine``, ``flapping``, ``windows``, ``rules``, ``versions``) around which
``repository`` (SQLite I/O) and ``listener`` (the ``collector.hooks.Listener``) are thin.
The collector builds it with :func:`collector.alerts.listener.build_listener`.
"""
