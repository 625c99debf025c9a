"""Evaluation: accuracies on materialised splits, recovery, attack success, plots."""
