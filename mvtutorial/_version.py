"""The package version (a leaf module: everything else imports it from here)."""
__version__ = "0.1.0"
