"""A bench-only app holding one new migration that bench/companies.py times; never part of the product."""
