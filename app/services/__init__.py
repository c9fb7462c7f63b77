"""Use cases over the domain and the database: plain keyword-only functions that take a session."""
