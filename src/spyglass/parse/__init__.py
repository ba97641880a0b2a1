"""Turning fetched bytes into `Story` objects: RSS/Atom feeds (`feed`)."""
