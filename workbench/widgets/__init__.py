"""Reusable widgets of the workbench: labelled form fields and live metric charts."""
