"""The shop dataset: its SQL files, and rows.py for the tables too big to compute in SQL."""
