"""hostca: certificate authority and host identity service for a domain of machines."""

__version__ = "0.1.0"
