"""Command-line entry points of the runtime (thin: parse arguments, call library code, print)."""
