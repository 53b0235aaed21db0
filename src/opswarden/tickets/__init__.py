"""Tickets: one ``Ticketer`` protocol (tickets/base.py), one module per backend (docs/tickets.md)."""
