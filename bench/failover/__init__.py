"""Failover benchmark: N tablets over two server processes sharing Redis; one is killed (-9).

    .venv/bin/python -m bench.failover --tablets 500 --kill-after-s 30 --duration-s 90

See bench/failover/README.md.
"""
