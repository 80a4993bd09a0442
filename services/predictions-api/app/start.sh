#!/bin/sh
# Data is loaded when the task starts, not baked into the image. Fresh data
# therefore needs a new deployment of the same image (no code change, no new
# build): `release deploy` with a forced redeploy restarts the tasks.
set -u
out=/srv/www/predictions.json
if [ -n "${DATA_URL:-}" ] && wget -q -O "$out.tmp" "$DATA_URL"; then
  mv "$out.tmp" "$out"
else
  echo "DATA_URL unset or unreachable; serving the sample predictions" >&2
  cp /srv/sample-predictions.json "$out"
fi
printf 'ok\n' >/srv/www/health
exec httpd -f -p "${PORT:-80}" -h /srv/www
