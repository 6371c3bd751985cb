"""The agents' web form: server-rendered pages over the same client SDK and records every other door uses."""
