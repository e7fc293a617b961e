"""Result cache: one contract, an in-process LRU and Redis."""
