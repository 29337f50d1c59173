"""The in-memory broker lives in `brokers.memory` (shared with bench/); tests import it from here too."""

from brokers.memory import MemoryAccount, MemoryBroker, lose_answer

__all__ = ["MemoryAccount", "MemoryBroker", "lose_answer"]
