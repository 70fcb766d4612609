"""The HTTP service (the ``serve`` extra): ``synthmark.serve.app.create_app``."""
