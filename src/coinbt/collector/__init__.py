"""Collecting candles: from files (and, later, from exchanges)."""
