"""Test support: stand-in servers and helpers shared by the test suites."""
