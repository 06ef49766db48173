"""Wallets: what agents see of the ledger, and the movements they ask for."""
