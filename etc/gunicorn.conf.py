"""gunicorn settings for Mon Compte Citoyen: `gunicorn --paste /etc/compte-citoyen/production.ini -c etc/gunicorn.conf.py`.

Each worker is a separate process with its own ZODB connection pool and cache (ZEO client or RelStorage):
the app must be loaded AFTER the fork (preload_app = False), because a ZEO/RelStorage connection opened in the
master and shared by forked children would be corrupted. Sync workers: the ZODB work is CPU-bound Python, so one
request per process at a time is the fastest; nginx buffers slow clients in front of them.

Workers: one per core, plus one that runs while another waits on the ZEO server (a load, a commit). More
processes than that only take turns on the cores: on the project's 2-core machine, with the ZEO server and nginx
(or the load generator) on the same cores, 3 workers served more than 4 at every page, hello world included, and
with less CPU per request (docs/performance.md); set ``COMPTE_CITOYEN_WORKERS`` to measure yours.
"""
import multiprocessing
import os

bind = os.environ.get("COMPTE_CITOYEN_BIND", "127.0.0.1:6543")
workers = int(os.environ.get("COMPTE_CITOYEN_WORKERS", multiprocessing.cpu_count() + 1))
worker_class = "sync"
preload_app = False
# a worker serving a slow request (PDF, big search) must not be killed; nginx times out first
timeout = 60
graceful_timeout = 30
keepalive = 2
# recycle workers now and then: bounds any slow growth of memory
max_requests = 100000
max_requests_jitter = 10000
# nginx on the same host adds X-Forwarded-*; trust it only from loopback
forwarded_allow_ips = "127.0.0.1"
proxy_allow_ips = "127.0.0.1"
accesslog = os.environ.get("COMPTE_CITOYEN_ACCESS_LOG", "-")
errorlog = "-"
loglevel = "info"
# request lines only, never query strings (they may carry one-time tokens)
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
