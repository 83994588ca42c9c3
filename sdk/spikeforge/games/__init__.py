"""Games built on spikeforge (importable from the installed package)."""
