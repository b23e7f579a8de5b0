"""What a user can set (options: flag, env var, ini key, default) and the resolved settings.

The lowest layer: everything else reads settings, nothing here imports the ML stack.
"""
