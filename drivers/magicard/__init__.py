"""Magicard card printers: the publicly reverse-engineered protocol."""
