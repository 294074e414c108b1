"""Benchmarks of the CRM on PostgreSQL: the cost of tenancy and the speed at scale (docs/BENCHMARKS.md)."""
