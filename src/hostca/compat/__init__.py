"""Commands in the NetBackup syntax: ``nbcertcmd``, ``nbhostmgmt``, ``bpnbat`` and ``nbseccmd``.

They serve administrators and scripts that know the NetBackup commands. Each
one parses its own syntax, translates the command line into a ``hostca``
command line and runs that in the same process, so every rule, prompt and
message is the one of ``hostca``. Only the exit statuses (one per family of
error codes), compact JSON and the usage texts are their own.
"""

__all__: list[str] = []
