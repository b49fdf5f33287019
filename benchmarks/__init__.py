"""agentrt's benchmarks: `make bench` runs every bench_*.py here, one process each."""
