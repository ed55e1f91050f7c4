"""The pure domain of hostca: it imports only ``cryptography``, ``idna`` and the standard library."""
