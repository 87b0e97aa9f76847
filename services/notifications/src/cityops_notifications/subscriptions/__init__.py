"""Subscriptions: who wants to hear about what, on which channel, in which language."""
