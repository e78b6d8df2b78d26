"""Adapters the composition root builds to join two domains: each implements one domain's port
over another domain's public object, and translates that domain's errors into the caller's."""
