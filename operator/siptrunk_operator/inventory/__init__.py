"""`export`, `import-terraform` and `audit`: trunks that exist, as manifests; what nothing manages.

Pure parts (`manifests`, `terraform`, `audit`, `report`, `progress` rendering) take values and return
values; `listing`, `cluster` and `commands` do the I/O, over the operator's own API client.
"""
