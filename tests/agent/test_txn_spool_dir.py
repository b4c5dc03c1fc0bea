"""The spool directory as docs/agent.md's setup makes it (mode 2770, the payment app's group),
made again so when a clean-up deletes it: a spool made again 0755 with the agent's own group
would silently shut the payment app out, and its terminals would look idle."""

from __future__ import annotations

import grp
import io
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from agent_support import settings
from support.services import missing

from agent.check import check_spool
from agent.txnspool import TxnSpool

REPO = Path(__file__).resolve().parents[2]
# Groups no user of this machine needs to be in: root may give a directory any gid.
PARENT_GID, OLD_GID = 4242, 4243


@pytest.fixture(autouse=True)
def as_root() -> None:
    if os.geteuid() != 0:
        missing("root, to give directories groups other than the user's", "run the suite as root")


def _mode_and_gid(path: Path) -> tuple[str, int]:
    st = os.stat(path)
    assert stat.S_ISDIR(st.st_mode)
    return oct(stat.S_IMODE(st.st_mode)), st.st_gid


def _parent(tmp_path: Path, gid: int) -> Path:
    parent = tmp_path / "state"
    parent.mkdir()
    os.chown(parent, -1, gid)  # no setgid bit: the kernel would not pass the group on
    return parent


def test_a_deleted_spool_is_made_again_group_writable_with_the_group_it_had(
    tmp_path: Path,
) -> None:
    parent = _parent(tmp_path, PARENT_GID)
    root = parent / "txn-spool"
    root.mkdir()
    os.chown(root, -1, OLD_GID)  # the operator's chgrp, as the setup says
    os.chmod(root, 0o2770)
    spool = TxnSpool(root, "gw-0042", tmp_path / "journal")
    spool.scan(1795339260.0)
    shutil.rmtree(root)  # a clean-up script
    spool.scan(1795339320.0)
    assert _mode_and_gid(root) == ("0o2770", OLD_GID)


def test_a_spool_made_for_the_first_time_takes_its_parents_group_and_mode_2770(
    tmp_path: Path,
) -> None:
    parent = _parent(tmp_path, PARENT_GID)
    old_umask = os.umask(0o022)
    try:
        TxnSpool(parent / "txn-spool", "gw-0042", tmp_path / "journal")
    finally:
        os.umask(old_umask)
    assert _mode_and_gid(parent / "txn-spool") == ("0o2770", PARENT_GID)


def test_txn_spool_group_names_the_group_of_a_spool_made_again(tmp_path: Path) -> None:
    other = next(g for g in grp.getgrall() if g.gr_gid not in (0, PARENT_GID, OLD_GID))
    parent = _parent(tmp_path, PARENT_GID)
    root = parent / "txn-spool"
    spool = TxnSpool(root, "gw-0042", tmp_path / "journal", group=other.gr_name)
    assert _mode_and_gid(root) == ("0o2770", other.gr_gid)
    shutil.rmtree(root)
    spool.scan(1795339260.0)
    assert _mode_and_gid(root) == ("0o2770", other.gr_gid)
    out = io.StringIO()
    check_spool(settings(1883, tmp_path, txn_spool_dir=root, txn_spool_group=other.gr_name), out)
    assert out.getvalue() == f"ok   transaction spool {root}: mode 2770, group {other.gr_name}\n"


def test_a_group_the_agent_may_not_give_is_logged_naming_the_fix_and_reported_by_check(
    tmp_path: Path,
) -> None:
    if shutil.which("setpriv") is None:
        missing("setpriv (util-linux, to drop root's right to chown)", "apt-get install util-linux")
    parent = _parent(tmp_path, 0)
    root = parent / "txn-spool"
    code = (
        "import logging, sys; from pathlib import Path; from agent.txnspool import TxnSpool; "
        "logging.basicConfig(level=logging.INFO, stream=sys.stderr); "
        f"TxnSpool(Path({str(root)!r}), 'gw-0042', Path({str(tmp_path / 'journal')!r}), "
        f"group='{OLD_GID}')"
    )
    # Root without CAP_CHOWN may give a directory only a group it is a member of, as the
    # agent's user (posfleet) outside the payment app's group.
    done = subprocess.run(
        ["setpriv", "--bounding-set=-chown", sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert f"cannot give it group {OLD_GID} (Operation not permitted)" in done.stderr
    assert f"txn_spool_group = '{OLD_GID}'" in done.stderr
    assert f"install -d -m 2770 -g {OLD_GID} {root}" in done.stderr
    assert _mode_and_gid(root) == ("0o2770", 0)  # made anyway: the agent stops for nothing
    out = io.StringIO()
    check_spool(settings(1883, tmp_path, txn_spool_dir=root, txn_spool_group=str(OLD_GID)), out)
    assert out.getvalue() == (
        f"WARN transaction spool {root} (mode 2770, group root): its group is not "
        f"txn_spool_group '{OLD_GID}', so the payment app may not be able to drop files "
        f"(unless it runs as the agent's user); fix: chgrp {OLD_GID} {root} && chmod 2770 {root}\n"
    )


def test_check_reports_a_spool_its_group_may_not_write(tmp_path: Path) -> None:
    root = tmp_path / "txn-spool"
    root.mkdir()
    os.chmod(root, 0o755)  # as the agent used to make it again
    out = io.StringIO()
    check_spool(settings(1883, tmp_path, txn_spool_dir=root), out)
    assert out.getvalue() == (
        f"WARN transaction spool {root} (mode 755, group root): its group may not write there, "
        "so the payment app may not be able to drop files (unless it runs as the agent's "
        f"user); fix: chgrp GROUP {root} && chmod 2770 {root}\n"
    )


def test_a_spool_swapped_for_a_link_while_it_is_made_never_gives_the_links_target_away(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spool's parent may be writable by others (a txn_spool_dir in the payment app's
    own directory): one who swaps the fresh spool for a link between the agent's mkdir and
    its chgrp/chmod must not get the link's target (the agent's credentials, its journal)
    made 2770 in their group. The race is won here on purpose, right after the mkdir."""
    parent = _parent(tmp_path, PARENT_GID)
    root = parent / "txn-spool"
    secret = tmp_path / "credentials"
    secret.mkdir(mode=0o700)
    os.chmod(secret, 0o700)
    real_mkdir = os.mkdir

    def mkdir_then_swap(path: object, *args: object, **kwargs: object) -> None:
        real_mkdir(path, *args, **kwargs)  # type: ignore[arg-type]
        if Path(str(path)) == root:
            os.rename(root, parent / "moved-away")
            os.symlink(secret, root)

    monkeypatch.setattr(os, "mkdir", mkdir_then_swap)
    TxnSpool(root, "gw-0042", tmp_path / "journal")
    monkeypatch.undo()
    assert _mode_and_gid(secret) == ("0o700", 0)


@pytest.mark.parametrize(
    ("mode", "uid", "gid", "writers"),
    [
        (0o777, 0, 0, "everyone"),
        (0o775, 0, PARENT_GID, f"group {PARENT_GID}"),
        (0o755, 4321, 0, "user 4321"),
        (0o1777, 4321, PARENT_GID, None),  # sticky: only an entry's owner may rename it
        (0o755, 0, PARENT_GID, None),
        (0o775, 0, 0, None),  # root's group
    ],
)
def test_check_warns_of_a_spool_parent_others_may_write(
    tmp_path: Path, mode: int, uid: int, gid: int, writers: str | None
) -> None:
    """Whoever may write in a directory above the spool can rename the spool away and put a
    link to any directory in its place between two scans: check says who, and the fix."""
    parent = tmp_path / "shared"
    root = parent / "txn-spool"
    root.mkdir(parents=True)
    os.chown(root, -1, OLD_GID)
    os.chmod(root, 0o2770)
    os.chown(parent, uid, gid)
    os.chmod(parent, mode)
    out = io.StringIO()
    check_spool(settings(1883, tmp_path, txn_spool_dir=root, txn_spool_group=str(OLD_GID)), out)
    lines = out.getvalue().splitlines()
    ok = f"ok   transaction spool {root}: mode 2770, group {OLD_GID}"
    if writers is None:
        assert lines == [ok]
    else:
        assert lines == [
            f"WARN transaction spool {root}: its parent {parent} (mode {mode:o}) may be "
            f"written by {writers}, who could replace the spool with a link between two "
            "scans; fix: keep the spool under directories only root and the agent's user may "
            f"write (chmod go-w {parent}, or move txn_spool_dir)",
            ok,
        ]
