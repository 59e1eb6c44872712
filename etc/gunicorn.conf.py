"""gunicorn settings for Mon Compte Citoyen: `gunicorn --paste /etc/compte-citoyen/production.ini -c etc/gunicorn.conf.py`.

Each worker is a separate process with its own ZODB connection pool and cache (ZEO client or RelStorage):
the app must be loaded AFTER the fork (preload_app = False), because a ZEO/RelStorage connection opened in the
master and shared by forked children would be corrupted. Sync workers: the ZODB work is CPU-bound Python, so one
request per process at a time is the fastest; nginx buffers slow clients in front of them.
"""
import multiprocessing
import os

bind = os.environ.get("COMPTE_CITOYEN_BIND", "127.0.0.1:6543")
workers = int(os.environ.get("COMPTE_CITOYEN_WORKERS", multiprocessing.cpu_count() * 2))
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
