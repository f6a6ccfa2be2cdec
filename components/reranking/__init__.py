"""Re-ranking as array functions: business rules (already seen, unavailable, excluded, allowed
categories, a per-category cap) and MMR diversity. No I/O, no framework."""
