#!/usr/bin/env bash
# Make sure the machine's shared Redis (127.0.0.1:6379) and MariaDB (127.0.0.1:3306, root with
# an empty password, database `test`) are running, installing them with apt when missing.
# Tests that stop a server start their own throwaway instance; these shared ones stay up.
set -euo pipefail

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_for() {  # wait_for <description> <command...>: poll a readiness probe, at most 30 s
  local what=$1; shift
  for _ in $(seq 1 60); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "ensure_services: $what did not become ready" >&2; return 1
}

# --- Redis
command -v redis-server >/dev/null || apt_install redis-server
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for "Redis" redis-cli -h 127.0.0.1 -p 6379 ping
fi

# --- MariaDB
command -v mariadbd >/dev/null || apt_install mariadb-server mariadb-client
if ! mysqladmin -h 127.0.0.1 -P 3306 -uroot ping >/dev/null 2>&1; then
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  wait_for "MariaDB" mysqladmin -h 127.0.0.1 -P 3306 -uroot ping
fi
mysql -h 127.0.0.1 -P 3306 -uroot -e "CREATE DATABASE IF NOT EXISTS test CHARACTER SET utf8mb4"
echo "ensure_services: Redis and MariaDB are up"
