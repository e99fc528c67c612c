"""Datasets, splits, normalization and per-example augmentation."""
