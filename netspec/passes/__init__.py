"""Named by setuptools as netspec.passes: IR -> IR rewrites shared by backends."""
