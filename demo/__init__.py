"""``python -m demo``: the whole system on one machine, started and stopped by one command.

Not part of the installed distribution (the image ships only ``trainer`` and ``service``): it is
the orchestration behind ``make demo``, kept out of both packages so that neither grows a
dependency on the other, and it runs them exactly as the Docker image and Kubernetes do — as
``python -m trainer …`` and ``python -m service`` child processes.
"""
