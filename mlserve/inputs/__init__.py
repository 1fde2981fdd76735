"""Request payloads -> validated model input. Every bad input ends here as an InputError."""
