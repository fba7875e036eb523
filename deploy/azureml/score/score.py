"""A score script that needs a package the image lacks (tabulate): the inference server
imports it, calls init() once and run(raw_request) for each request."""

import json


def init():
    global tabulate
    from tabulate import tabulate  # from the mounted folder or the start-time install


def run(raw_data):
    rows = json.loads(raw_data)["rows"]
    return {"table": tabulate(rows, tablefmt="plain"), "rows": str(len(rows))}
