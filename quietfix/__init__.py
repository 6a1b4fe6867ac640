"""quietfix."""
