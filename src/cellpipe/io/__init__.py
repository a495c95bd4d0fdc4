"""Everything that touches disk lives here."""
