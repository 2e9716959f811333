"""Development tools, never part of a deployment: the embedded Redis of `make run`, waiting for Redis, and the
one redis-server command line used by `make run`, the tests and the benchmarks."""
