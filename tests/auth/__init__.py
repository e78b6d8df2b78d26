"""Tests of staff auth: login, sessions, CSRF, roles, tokens and the user and token CLI."""
