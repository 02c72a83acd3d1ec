"""Generic machinery the tuners build on: I/O, the Gaussian process, the acquisition search."""
