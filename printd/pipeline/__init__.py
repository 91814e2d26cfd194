"""The print pipeline: which job goes to which printer, and what each outcome means."""
