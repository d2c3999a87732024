"""The chaos runner (`make chaos`, `python -m tests.chaos`): scenarios on the real control plane, the
emulator and the operator process, each printing one figures line, then a summary line."""
