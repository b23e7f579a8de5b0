"""What a session tells its reader: the events tests emit, the terminal tables, the JSON
report and the loss-curve pictures."""
