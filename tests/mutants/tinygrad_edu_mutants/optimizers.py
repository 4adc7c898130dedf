from tinygrad_edu import hookimpl  # noqa: F401
