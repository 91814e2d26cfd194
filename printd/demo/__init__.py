"""`printd demo`: a whole station on one machine, for a first look."""
