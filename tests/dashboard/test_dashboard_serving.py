"""How posfleet-dashboard runs Streamlit: as a served console, not a developer's workspace."""

from __future__ import annotations

from dashboard import main as cli


def test_the_console_runs_without_streamlits_source_watcher(tmp_path) -> None:
    """The watcher walks every imported module's path after each script run (every new tab,
    page switch and auto-refresh), on the event loop that serves every viewer."""
    cmd = cli.streamlit_command(tmp_path / "s.sqlite", 8777)
    assert cmd[cmd.index("--server.fileWatcherType") + 1] == "none"
    assert cmd.index("--server.fileWatcherType") < cmd.index("--")  # Streamlit's, not ours
