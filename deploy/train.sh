#!/bin/sh
# The trainer container's one-shot job (docker-compose.yml's trainer, k8s' CronJob); the image
# installs it as /usr/local/bin/ic-train. Trains on EVENTS_FILE when it exists, else on synthetic
# events (a demo or dev cluster), and publishes a new version into ARTIFACTS_DIR, moving CURRENT.
# Extra arguments go to `python -m trainer train` (e.g. --adapter taobao, --config FILE).
#   EVENTS_FILE   the event log                     (default /data/events.csv)
#   ARTIFACTS_DIR where versions are published      (default /artifacts)
#   SYNTH_ARGS    flags for `trainer synth`         (e.g. "--users 5000")
#   TRAIN_ARGS    flags for `trainer train`         (e.g. "--threads 2")
set -eu
events="${EVENTS_FILE:-/data/events.csv}"
artifacts="${ARTIFACTS_DIR:-/artifacts}"
if [ ! -f "$events" ]; then
    echo "ic-train: no $events; training on synthetic events" >&2
    events="${TMPDIR:-/tmp}/synthetic-events.csv"
    # shellcheck disable=SC2086 # word splitting of the flag lists is intended
    python -m trainer synth --out "$events" ${SYNTH_ARGS:-}
fi
# shellcheck disable=SC2086
exec python -m trainer train --events "$events" --artifacts "$artifacts" --no-progress ${TRAIN_ARGS:-} "$@"
