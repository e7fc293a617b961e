"""A small circuit breaker: stop calling a backend that just failed, then probe it again.

Without one, every request made while Redis is down would wait for a connect timeout.
With it, the first failure opens the circuit: calls are skipped (answered as misses) for
``cooldown`` seconds. Then exactly one caller is let through as a probe while the others
keep skipping; if the probe succeeds the circuit closes, if it fails the cooldown doubles,
up to ``max_cooldown``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

State = Literal["closed", "open"]


class CircuitBreaker:
    """Decides whether a backend call may be attempted; thread-safe.

    Call :meth:`allow` before a call and :meth:`record_success` or
    :meth:`record_failure` after it. Their boolean answers say whether the state changed
    (an outage began or ended), so the caller logs once per outage, not once per call.
    """

    def __init__(
        self,
        cooldown: float = 2.0,
        max_cooldown: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if cooldown <= 0 or max_cooldown < cooldown:
            raise ValueError("need 0 < cooldown <= max_cooldown")
        self.cooldown = cooldown
        self.max_cooldown = max_cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._open = False
        self._wait = cooldown
        self._retry_at = 0.0
        self.failures = 0
        """Consecutive failures in the current outage (0 while closed)."""

    @property
    def state(self) -> State:
        """``"closed"`` while calls go through, ``"open"`` during an outage."""
        return "open" if self._open else "closed"

    def retry_in(self) -> float:
        """Seconds until the next probe is allowed (0 when closed or due)."""
        with self._lock:
            return max(0.0, self._retry_at - self._clock()) if self._open else 0.0

    def allow(self) -> bool:
        """True when a call may be attempted now.

        While open, the first caller after the cooldown gets True (the probe) and pushes
        the next allowed time forward, so concurrent callers keep skipping until the
        probe reports back.
        """
        with self._lock:
            if not self._open:
                return True
            now = self._clock()
            if now < self._retry_at:
                return False
            self._retry_at = now + self._wait
            return True

    def record_success(self) -> bool:
        """Close the circuit; True when this ended an outage."""
        with self._lock:
            ended = self._open
            self._open = False
            self._wait = self.cooldown
            self.failures = 0
            return ended

    def record_failure(self) -> bool:
        """Open the circuit (or keep it open, backing off further); True when this
        started a new outage."""
        with self._lock:
            started = not self._open
            if not started:
                self._wait = min(self._wait * 2, self.max_cooldown)
            self._open = True
            self.failures += 1
            self._retry_at = self._clock() + self._wait
            return started
