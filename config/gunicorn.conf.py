"""Production gunicorn settings: `gunicorn -c config/gunicorn.conf.py`."""

import multiprocessing
import os

wsgi_app = "lti_tool:create_app()"
bind = os.environ.get("LTI_TOOL_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("LTI_TOOL_WORKERS", multiprocessing.cpu_count()))
# A launch or a page spends about half its time waiting on the database or Redis;
# threads let a worker use that wait for another request (bench/launch.py
# --threads 4: about 1.8× the launches per second of sync workers, lower p99).
worker_class = "gthread"
threads = int(os.environ.get("LTI_TOOL_THREADS", 4))
timeout = 30
# gunicorn's control socket is one path per user: a second instance on the host
# would collide with it, and nothing here uses gunicornc.
control_socket_disable = True
# Launch session tokens travel in query strings: log the path only, never the query.
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
forwarded_allow_ips = os.environ.get("LTI_TOOL_FORWARDED_ALLOW_IPS", "127.0.0.1")
