"""Architectures (one registry) and the one classification LightningModule."""
