"""Datasets: importing and cleaning image folders (thesis §4.2.1), zip uploads, background
imports, the demo dataset; their forms and pages."""
