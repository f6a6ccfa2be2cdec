"""Re-ranking as array functions: business rules (already seen, unavailable, excluded, allowed
categories) and MMR diversity with a per-category cap. No I/O, no framework."""
