"""The Firmware page when one model has a policy and another has none (the mix that made
pandas' missing strings reach ``json.loads``): no crash, "no policy" where there is none."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from collector.store import db

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:altair.*")


def test_a_model_without_policy_next_to_one_with_a_policy_says_no_policy(
    open_page: Callable[..., AppTest], fleet: Any
) -> None:
    conn = db.connect(fleet.path)
    try:
        with conn:
            conn.execute("DELETE FROM firmware_policy WHERE model = 'S920'")
        terminals = dict(
            conn.execute(
                "SELECT model, COUNT(*) FROM terminals WHERE registered = 1 "
                "AND decommissioned = 0 GROUP BY 1"
            ).fetchall()
        )
        gateways = dict(
            conn.execute(
                "SELECT model, COUNT(*) FROM gateways WHERE registered = 1 "
                "AND decommissioned = 0 GROUP BY 1"
            ).fetchall()
        )
    finally:
        conn.close()
    at = open_page("views/firmware.py")
    rollout = at.dataframe[0].value.set_index("model")
    assert rollout.loc["S920", "target"] == "no policy"
    assert rollout.loc["S920", "on_target_pct"] == ""  # no figure: an empty cell
    assert rollout.loc["A920", "target"] == "1.5.1"
    versions = at.dataframe[1].value
    assert set(versions.loc[versions["model"] == "S920", "compliance"]) == {"no policy"}
    # Gateways report versions too: both are counted.
    assert versions.groupby("model")["terminals"].sum().to_dict() == terminals
    assert versions.groupby("model")["gateways"].sum().to_dict() == gateways
