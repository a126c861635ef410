"""Watching a run: its log capture, progress, stall guard, Ray metrics, engine placement, timeline and run files."""
