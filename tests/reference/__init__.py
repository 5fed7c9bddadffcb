"""Independent test oracle: a plain-PyTorch re-implementation of the official
InfMAE model."""
