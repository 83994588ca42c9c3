"""Benchmarks run by ``spikeforge bench NAME`` (each module has ``main(argv) -> int``)."""
