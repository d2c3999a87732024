"""The reconcile engine: a work queue, one typed state per object, and the loop that runs the plans."""
