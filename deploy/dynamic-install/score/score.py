"""A score script whose extra requirements come from the internal mirror at start."""

import json

import humanize
import tabulate


def init():
    global FORMAT
    FORMAT = "plain"


def run(raw_data):
    rows = json.loads(raw_data)["rows"]
    table = tabulate.tabulate(rows, tablefmt=FORMAT)
    return {"table": table, "rows": humanize.intcomma(len(rows))}
