"""batchio."""
