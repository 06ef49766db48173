"""Redemptions end to end: the API, a real worker and Temporal, the ledger, a fake Razorpay X."""
