"""The package version, below everything, so any module can name it without
importing the package's face (which imports the API)."""
__version__ = "0.1.0"
