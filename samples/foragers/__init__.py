"""Foragers that learn to find food: ``python -m samples.foragers`` (see spikeforge.games.foragers)."""
