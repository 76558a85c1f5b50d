"""Per-agency adapters (iGate, DVCQG, agency databases, QLVB, file drop).

Adapters import only the hub's public adapter contract and models; they run at the agency's
edge in a connector. The adapter contract and the adapters themselves arrive with a later issue.
"""
