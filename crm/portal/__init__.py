"""The distributor portal: a distributor's home, catalogue and cart.

It composes the domains' services and owns no tables.
"""
