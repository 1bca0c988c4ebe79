# syntax=docker/dockerfile:1
# Two targets from one build (docs/operations.md "Images"; sizes in docs/benchmarks.md):
#   --target service  the slim serving image: `python -m service` and nothing of the trainer's
#                     dependencies (pyarrow, matplotlib, click, tqdm…); with boto3 (the `s3`
#                     extra) to read ARTIFACTS_DIR=s3://… (docs/artifacts.md)
#   (default) full    the service's image plus the trainer: also
#     docker run IMAGE trainer train --events F --artifacts /artifacts  -> python -m trainer ...
#     docker run --entrypoint ic-train IMAGE   -> deploy/train.sh: the compose/CronJob trainer job
# The commands are the ones `make demo` and the tests run (tests/deploy/test_dockerfile.py checks).

ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

# ---- build: compile every wheel (hnswlib needs a C++ compiler) --------------------------------
FROM ${PYTHON_IMAGE} AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends g++=4:12.2.0-3 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY contracts ./contracts
COPY trainer ./trainer
COPY service ./service
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[trainer,s3,tracing]'

# ---- service: the wheels of the serving install only; no compiler, no pip cache, no sources ----
FROM ${PYTHON_IMAGE} AS service
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    ARTIFACTS_DIR=/artifacts \
    NUMBA_CACHE_DIR=/tmp/numba
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels 'interaction-candidates[s3,tracing]==0.1.0' \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app \
    && mkdir /app /artifacts \
    && chown app:app /artifacts
# A named volume first mounted at /artifacts takes this folder's owner, so the trainer can write.
# /app is empty and read-only: `python -m` puts the working directory on sys.path.
USER 10001:10001
WORKDIR /app
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=2)"]
ENTRYPOINT ["python", "-m"]
CMD ["service"]

# ---- full (the default target): the service's layers plus the trainer's dependencies ----------
FROM service AS full
ENV MPLCONFIGDIR=/tmp/matplotlib
USER 0
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels 'interaction-candidates[trainer,s3,tracing]==0.1.0'
COPY --chmod=0755 deploy/train.sh /usr/local/bin/ic-train
USER 10001:10001
