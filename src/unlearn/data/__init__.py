"""Data: sources (one registry), seeded splits, exact corruption, and the DataModule."""
