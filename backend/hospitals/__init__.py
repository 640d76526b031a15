"""Hospitals: the facility registry, webhook signatures, receiving pushes, and the delivery log."""
