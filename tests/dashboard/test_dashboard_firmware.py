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


def _counts(path: Any, region: str) -> dict[tuple[str, str], tuple[int, int]]:
    """(model, version) -> (gateways, terminals) of one region, counted in the store."""
    conn = db.connect(path)
    try:
        out: dict[tuple[str, str], list[int]] = {}
        for i, table in enumerate(("gateways", "terminals")):
            for model, version, n in conn.execute(
                f"SELECT model, COALESCE(firmware_version, ''), COUNT(*) FROM {table} "
                "WHERE registered = 1 AND decommissioned = 0 AND region_id = ? GROUP BY 1, 2",
                (region,),
            ).fetchall():
                out.setdefault((model, version), [0, 0])[i] += n
    finally:
        conn.close()
    return {key: (g, t) for key, (g, t) in out.items()}


def test_the_firmware_page_narrows_to_a_region_and_a_model_from_the_url(
    open_page: Callable[..., AppTest], fleet: Any
) -> None:
    whole = _counts(fleet.path, "R02")
    # Devices in the region and out of it: the filter has something to leave out.
    assert whole
    assert _counts(fleet.path, "R01")
    at = open_page("views/firmware.py", {"region": "R02"})
    assert at.selectbox(key="qp_region").value == "R02"
    versions = at.dataframe[1].value
    shown = {
        (r.model, r.version): (int(r.gateways), int(r.terminals))
        for r in versions.itertuples(index=False)
    }
    assert shown == whole
    # The rollout counts that region's devices only.
    rollout = at.dataframe[0].value.set_index("model")
    for model in rollout.index:
        g = sum(n[0] for (m, _), n in whole.items() if m == model)
        t = sum(n[1] for (m, _), n in whole.items() if m == model)
        assert (int(rollout.loc[model, "gateways"]), int(rollout.loc[model, "terminals"])) == (g, t)
    # And a model too: both filters at once, kept in the URL.
    at.selectbox(key="qp_model").select("A920").run()
    assert at.query_params["region"] == "R02"
    assert at.query_params["model"] == "A920"
    versions = at.dataframe[1].value
    assert set(versions["model"]) == {"A920"}
    assert {(r.model, r.version) for r in versions.itertuples(index=False)} == {
        key for key in whole if key[0] == "A920"
    }
