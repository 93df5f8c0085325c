"""The ways to call compiled code from Python that the suite compares, one module each."""
