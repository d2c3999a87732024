"""Pure decisions: no I/O anywhere in this package; every function is table-tested in tests/unit."""
