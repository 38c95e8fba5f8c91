#!/usr/bin/env bash
# Health of the TF Serving container: every model in /models/models.txt is AVAILABLE on the REST
# port. The image has no curl, so this speaks HTTP/1.0 over bash's /dev/tcp.
set -euo pipefail
port="${TF_SERVING_REST_PORT:-8501}"
while IFS= read -r name; do
  [ -n "$name" ] || continue
  exec 3<>"/dev/tcp/127.0.0.1/${port}"
  printf 'GET /v1/models/%s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$name" >&3
  if ! grep -q '"AVAILABLE"' <&3; then
    echo "model ${name} is not AVAILABLE" >&2
    exit 1
  fi
  exec 3<&-
done < /models/models.txt
