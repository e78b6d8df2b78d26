"""Exercises: replay a real flood through the whole service to train staff (issue #16).

Today: the scenario format (exercises.scenario), the simulated population
(exercises.population) and hotline traffic (exercises.traffic), and `canhbao exercise check`.
"""
