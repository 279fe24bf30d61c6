"""The queue side: reads both systems, asks the pure core what to do, carries the plan out."""
