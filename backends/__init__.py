"""Code generators, one subpackage per backend (netspec.backends.torch, ...)."""
