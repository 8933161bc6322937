"""Benchmarks and the soak of rls-cdss: measured, never timed in tests (run with `make bench`, `make soak`)."""
