"""Plotly figures as plain dicts (runs, datasets, comparisons, studies) and the store that
builds a finished run's or study's figures once per language."""
