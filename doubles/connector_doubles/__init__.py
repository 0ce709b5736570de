"""Local stand-ins for platforms and case systems: used by tests and by ``connector demo``."""
