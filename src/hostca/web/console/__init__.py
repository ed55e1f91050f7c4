"""The administration console: server-rendered pages under /console.

The console translates forms into calls of the same service functions that the
REST API and the CLI use, and renders their results. It decides nothing itself:
permissions come from the one permission table, and errors are the service's own.
"""

from hostca.web.console.routes import install_console

__all__ = ["install_console"]
