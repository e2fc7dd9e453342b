"""Locust: the same POST /checkout as bench/campaign/checkout-load.yaml.

FastHttpUser (geventhttpclient, keep-alive), no think time: each user is a
closed loop like a wrk connection or a tbt campaign slot. A response counts as
a failure unless it is HTTP 200 with the order PAID; connection errors and
timeouts are failures too (Locust records them itself).
Used by bench/campaign_vs_load_tools.sh (master + workers, headless).
"""
import locust.runners
from locust import FastHttpUser, constant, task

# Debian's python3-locust 2.12.1-1 ships an empty version string
# (locust/_version.py: version = ''). Workers announce themselves with that
# version, and a master that receives an empty one refuses them as "an old
# (pre 2.0) worker": distributed mode never starts. Master and workers all
# import this file before they connect, so giving them the same non-empty
# version here is enough.
if not locust.runners.__version__:
    locust.runners.__version__ = "2.12.1+debian-empty-version"

BODY = ('{"customerId": "cust-load", "items": [{"sku": "SKU-1001", "quantity": 1, '
        '"price": 99.99}], "payment": {"method": "card", "cardToken": "tok_visa"}}')
HEADERS = {"Content-Type": "application/json"}


class Checkout(FastHttpUser):
    wait_time = constant(0)
    # One connection per user (the same concurrency as wrk's -c and tbt's -c).
    concurrency = 1
    network_timeout = 30.0
    connection_timeout = 10.0

    @task
    def checkout(self):
        with self.client.post("/checkout", data=BODY, headers=HEADERS, name="POST /checkout",
                              catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}")
            elif b'"PAID"' not in (r.content or b""):
                r.failure("order not PAID")
            else:
                r.success()
