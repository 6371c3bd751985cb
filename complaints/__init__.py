"""The composition root: the `complaints` command and the embedded dev stack, the one place that assembles
processes (the worker, the web form, the dev stack). It may import every layer; no layer imports it."""
