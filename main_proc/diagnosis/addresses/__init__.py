"""Addresses peers elsewhere cannot use, and the NAT's mapping and filtering (RFC 4787/5780)."""
