"""Helpers for the Godot end-to-end tests (headless Godot 3, gdtoolkit for Godot 4)."""
