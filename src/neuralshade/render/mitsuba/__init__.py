"""Mitsuba 3 reference renderer: scene dicts, the one-pass G-buffer integrator, AO."""
