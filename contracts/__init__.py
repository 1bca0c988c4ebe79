"""What the trainer and the service agree on: interactions, the artifact format, Redis keys.

Both sides import this package; it imports neither of them and nothing heavier than numpy
and pydantic, so the serving image stays free of training code.
"""
