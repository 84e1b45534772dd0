from .function import bp

__all__ = ["bp"]
