"""What an inventory import refuses (collector.inventory's message ids), marked for the
catalogs: the console shows a refusal in the viewer's language (``dashboard.ui.act``).
Pure: no Streamlit. tests/dashboard/test_i18n_catalog.py keeps this list and the
collector's the same."""

from __future__ import annotations

from dashboard.i18n import N_

REFUSALS = (
    N_(
        "{file} line {line} is not UTF-8 (a CSV saved by Excel in China is usually GBK): save it "
        'from Excel as "CSV UTF-8", or convert it with iconv -f GBK -t UTF-8 '
        "(docs/collector.md, Inventory files)"
    ),
    N_("{file} line {line} is not CSV ({reason}): fix the line; quote a value that holds a quote"),
    N_(
        "{file} line 1: unknown column(s) {columns}: rename them to inventory columns or remove "
        "them; allowed: {allowed} (docs/collector.md, Inventory files)"
    ),
    N_(
        "{file} has no {column} column: add a {column} column with each row's id "
        "(docs/collector.md, Inventory files)"
    ),
    N_(
        "{file} has no gateway_id column: add a gateway_id column naming each terminal's "
        "gateway (docs/collector.md, Inventory files)"
    ),
    N_(
        "{file} line {line} has more fields than the header: quote a value that holds a comma "
        '("Road 1, Pudong"), or name the column in the header'
    ),
    N_("{file} line {line}: {column} is empty: give the row its id, or delete the row"),
    N_(
        "{file} line {line} ({key} {id}): gateway_id is empty: name the gateway the terminal "
        "is behind"
    ),
    N_(
        "{file} line {line} ({key} {id}): {column} is empty: fill it in, or leave the {column} "
        "column out of the file to keep what is stored"
    ),
    N_(
        "{file} line {line} ({key} {id}): {column} {value} is not a number: write a decimal "
        "number (e.g. 31.2304), or leave it empty"
    ),
    N_("{file} line {line} ({key} {id}): the store refused the row ({reason}): fix it"),
    N_(
        "{file} line {line}: {key} {id} again, first seen at line {first}: keep one row per {key} "
        "(merge the two rows, or correct the id) (docs/collector.md, Inventory files)"
    ),
    N_(
        "{file} line {line} ({key} {id}): gateway_id {parent} is neither stored nor in this "
        "import's gateways.csv: add the gateway to gateways.csv and import it with this file (or "
        "before it), or correct the gateway_id (docs/collector.md, Inventory files)"
    ),
    N_(
        "{file} line {line} ({key} {id}): site_id {parent} is neither stored nor in this "
        "import's sites.csv: add the site to sites.csv and import it with this file (or before "
        "it), or correct the site_id (docs/collector.md, Inventory files)"
    ),
)
