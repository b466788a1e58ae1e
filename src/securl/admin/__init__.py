"""Whole-process protection: install(), the guard on the ssl module and the environment checks."""
