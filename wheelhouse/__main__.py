from wheelhouse.cli import entry

entry()
