"""Use cases the entry points (CLI, API, web) call: they combine the engine and adapters."""
